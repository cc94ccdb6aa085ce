// The run page, live: applies the server's events (state, log, end) to the page.
// Log lines arrive as records {n, kind, html}; html is already escaped and coloured
// by the server. Groups (##[group] ... ##[endgroup]) become collapsible <details>.
(function () {
  "use strict";
  const root = document.getElementById("run");
  if (!root) return;

  const MAX_LINES_PER_STEP = 20000; // beyond this the page keeps the newest lines only
  const STATUS_ICONS = {waiting: "◷", success: "✓", failure: "✕", running: "●", queued: "○", cancelled: "⊘", skipped: "↷"};
  const logBase = root.dataset.logBase;
  const stepState = new Map(); // step id -> {log element, open group element, count}
  let permalinkDone = false;

  function escapeText(text) {
    const div = document.createElement("div");
    div.textContent = text == null ? "" : String(text);
    return div.innerHTML;
  }

  function statusHtml(status) {
    return '<span class="status status-' + status + '" data-status="' + status + '"><span class="status-icon" aria-hidden="true">' +
      (STATUS_ICONS[status] || "?") + '</span><span class="status-text">' + status + "</span></span>";
  }

  function setStatus(container, status) {
    if (!container) return;
    const current = container.querySelector(".status");
    if (current && current.dataset.status === status) return;
    if (current) current.outerHTML = statusHtml(status);
    else container.insertAdjacentHTML("afterbegin", statusHtml(status));
  }

  // -- job and step sections -------------------------------------------------------------

  function jobSection(job) {
    let section = document.getElementById("job-" + job.id);
    if (!section) {
      section = document.getElementById("job-template").content.firstElementChild.cloneNode(true);
      section.id = "job-" + job.id;
      section.dataset.job = job.id;
      document.getElementById("jobs").appendChild(section);
    }
    section.querySelector(".job-name").textContent = job.name;
    setStatus(section.querySelector(".job-title"), job.status);
    section.querySelector(".job-duration").textContent = job.duration || "";
    const worker = section.querySelector(".job-worker");
    if (worker) {
      worker.textContent = job.worker ? "on " + job.worker : "";
      worker.hidden = !job.worker;
    }
    // Why it waits (an environment's approval or queue) or why it ended.
    let reason = section.querySelector(".job-reason");
    if (job.reason && !reason) {
      reason = document.createElement("p");
      reason.className = "muted small job-reason";
      section.querySelector(".job-title").insertAdjacentElement("afterend", reason);
    }
    if (reason) {
      reason.textContent = job.reason || "";
      reason.hidden = !job.reason;
    }
    return section;
  }

  function stepSection(step) {
    let details = document.querySelector('details.step[data-step="' + step.id + '"]');
    if (!details) {
      details = document.getElementById("step-template").content.firstElementChild.cloneNode(true);
      details.id = "j" + step.job + "-s" + step.number;
      details.dataset.step = step.id;
      details.dataset.job = step.job;
      details.dataset.number = step.number;
      details.querySelector(".log").dataset.step = step.id;
      details.querySelector(".step-download").href = logBase + step.job + "/" + step.number + ".txt";
      const section = document.getElementById("job-" + step.job);
      (section || document.getElementById("jobs")).appendChild(details);
    }
    details.querySelector(".step-name").textContent = step.name;
    const holder = details.querySelector(".step-status");
    const before = holder.querySelector(".status");
    if (!before || before.dataset.status !== step.status) {
      holder.innerHTML = statusHtml(step.status);
      if (step.status === "running" || step.status === "failure") details.open = true;
    }
    details.querySelector(".step-duration").textContent = step.duration || "";
    return details;
  }

  // -- state: statuses, tables, flow ------------------------------------------------------

  function applyState(state) {
    const run = state.run;
    if (root.dataset.status !== run.status) {
      // The badge is the latest run's status: ask for it again whenever this run's changes.
      const badge = document.getElementById("run-badge");
      if (badge) badge.src = badge.src.replace(/&_=\d+$/, "") + "&_=" + Date.now();
    }
    root.dataset.status = run.status;
    document.getElementById("run-status").innerHTML = statusHtml(run.status);
    document.getElementById("run-duration").textContent = run.duration || "—";
    document.getElementById("run-pipeline-status").textContent = run.pipeline_status;
    const reason = document.getElementById("run-reason");
    reason.textContent = run.reason || "";
    reason.hidden = !run.reason;
    reason.className = "message message-" + (run.status === "failure" ? "error" : "info");
    const cancelForm = document.getElementById("cancel-form");
    if (cancelForm) cancelForm.hidden = run.finished;
    // Approved (or cancelled) elsewhere: the button would only say it is too late.
    const approveForm = document.getElementById("approve-form");
    if (approveForm) approveForm.hidden = run.status !== "waiting";
    document.querySelectorAll(".rerun-form").forEach(function (form) { form.hidden = !run.finished; });

    document.getElementById("flow").innerHTML = state.flow.map(function (node) {
      return '<li class="flow-node status-border-' + node.status + '" data-status="' + node.status + '">' +
        '<span class="flow-dot bg-' + node.status + '"></span><span class="flow-name">' + escapeText(node.name) +
        '</span><span class="flow-detail">' + escapeText(node.detail) + "</span></li>";
    }).join("");
    document.querySelector("#tracker tbody").innerHTML = state.tracker.map(function (row) {
      return "<tr><td>" + escapeText(row.column) + "</td><td>" + escapeText(row.value) + "</td></tr>";
    }).join("");
    document.querySelector("#exec-table tbody").innerHTML = state.table.map(function (row) {
      return '<tr class="row-' + row.status + '" data-status="' + row.status + '"><td>' + escapeText(row.step) +
        "</td><td>" + escapeText(row.action) + '</td><td class="mono">' + escapeText(row.command) +
        "</td><td>" + escapeText(row.result) + "</td><td>" + escapeText(row.next_step) + "</td></tr>";
    }).join("");

    applyWaitingDeployments(state.waiting_deployments || []);
    applyNotes(state.annotations, state.summaries);
    state.jobs.forEach(jobSection);
    state.steps.forEach(stepSection);
    if (state.jobs.length && !document.getElementById("job-graph")) redrawGraph();
    Object.keys(state.graph).forEach(function (jobId) {
      const node = document.querySelector('#job-graph .node[data-job-id="' + CSS.escape(jobId) + '"]');
      if (node) node.dataset.status = state.graph[jobId];
    });
    if (run.finished) {
      document.querySelectorAll("#job-graph .node").forEach(function (node) {
        if (node.dataset.status === "queued" || node.dataset.status === "running") node.dataset.status = "skipped";
      });
    }
  }

  // A deployment waiting for approval: the message, and for a member the buttons.
  function applyWaitingDeployments(deployments) {
    const holder = document.getElementById("waiting-deployments");
    if (!holder) return;
    const shown = Array.from(holder.querySelectorAll(".deployment-waiting")).map(function (item) { return item.id; });
    const wanted = deployments.map(function (item) { return "deployment-" + item.id; });
    if (shown.join(",") === wanted.join(",")) return;
    const canApprove = holder.dataset.canApprove === "1";
    const next = window.location.pathname + window.location.search;
    holder.innerHTML = deployments.map(function (item) {
      let html = '<div class="message message-info deployment-waiting" id="deployment-' + item.id + '">Job ' +
        escapeText(item.job_key) + ' waits for a member to approve its deployment to <a href="' +
        escapeText(item.environment_url) + '">' + escapeText(item.environment) + "</a>. ";
      if (canApprove) {
        html += '<form method="post" action="' + escapeText(item.decide_url) + '" class="inline">' +
          '<input type="hidden" name="csrfmiddlewaretoken" value="' + escapeText(holder.dataset.csrf) + '">' +
          '<input type="hidden" name="next" value="' + escapeText(next) + '">' +
          '<button class="btn btn-primary" name="decision" value="approve" type="submit">Approve deployment</button> ' +
          '<button class="btn btn-danger" name="decision" value="reject" type="submit">Reject</button></form>';
      }
      return html + "</div>";
    }).join("");
  }

  let notesShown = null;
  function applyNotes(annotations, summaries) {
    const key = JSON.stringify([annotations, summaries]);
    if (key === notesShown) return;
    notesShown = key;
    document.getElementById("annotations-card").hidden = annotations.length === 0;
    document.getElementById("annotations").innerHTML = annotations.map(function (note) {
      let place = "";
      if (note.file) {
        place = ' · <span class="mono">' + escapeText(note.file) + (note.line ? ":" + note.line : "") +
          (note.line && note.column ? ":" + note.column : "") + "</span>";
      }
      return '<li class="annotation annotation-' + escapeText(note.level) + '"><span class="annotation-level">' +
        escapeText(note.level) + "</span><div>" + (note.title ? "<strong>" + escapeText(note.title) + "</strong> " : "") +
        escapeText(note.message) + '<div class="muted small">' + escapeText(note.where) + place + "</div></div></li>";
    }).join("");
    // Summary HTML was sanitised on the server (nh3) before it was sent.
    document.getElementById("summaries").innerHTML = summaries.map(function (summary) {
      return '<section class="card summary"><h2 class="section-title">Summary · ' + escapeText(summary.title) +
        '</h2><div class="markdown">' + summary.html + "</div></section>";
    }).join("");
  }

  // The graph is laid out by the server: when the jobs first appear, take it from the page.
  let graphPending = false;
  function redrawGraph() {
    if (graphPending) return;
    graphPending = true;
    fetch(location.pathname, {credentials: "same-origin"})
      .then(function (response) { return response.text(); })
      .then(function (html) {
        const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("jobs-card");
        if (fresh && fresh.querySelector("#job-graph")) {
          document.getElementById("jobs-card").innerHTML = fresh.innerHTML;
        } else {
          graphPending = false; // not drawn yet: try again with the next state
        }
      })
      .catch(function () { graphPending = false; });
  }

  // -- log lines ---------------------------------------------------------------------------

  function logOf(stepId) {
    let entry = stepState.get(stepId);
    if (!entry) {
      const log = document.querySelector('.log[data-step="' + stepId + '"]');
      if (!log) return null;
      entry = {log: log, target: log, count: 0};
      stepState.set(stepId, entry);
    }
    return entry;
  }

  function lineElement(details, record, kind) {
    const line = document.createElement("div");
    const id = details.id + "-l" + record.n;
    line.className = "line line-" + kind;
    line.id = id;
    line.innerHTML = '<a class="ln" href="#' + id + '">' + record.n + '</a><span class="lt">' + record.html + "</span>";
    return line;
  }

  function appendLines(stepId, records) {
    const entry = logOf(stepId);
    if (!entry) return;
    const details = entry.log.closest("details.step");
    // Follow the tail while the reader is at the bottom; leave them be once they scroll up.
    const following = entry.log.scrollHeight - entry.log.scrollTop - entry.log.clientHeight < 40;
    const fragment = document.createDocumentFragment();
    let target = entry.target;
    const flush = function () {
      if (fragment.childNodes.length) target.appendChild(fragment);
    };
    records.forEach(function (record) {
      if (record.kind === "group") {
        flush();
        const group = document.createElement("details");
        group.className = "log-group";
        const summary = document.createElement("summary");
        summary.appendChild(lineElement(details, record, "group"));
        group.appendChild(summary);
        target.appendChild(group);
        target = group;
      } else if (record.kind === "endgroup") {
        flush();
        target = entry.log;
      } else {
        fragment.appendChild(lineElement(details, record, record.kind));
      }
      entry.count += 1;
    });
    flush();
    entry.target = target;
    while (entry.count > MAX_LINES_PER_STEP && entry.log.firstElementChild) {
      const first = entry.log.firstElementChild;
      entry.count -= first.matches(".log-group") ? first.querySelectorAll(".line").length : 1;
      first.remove();
      entry.log.dataset.trimmed = "true";
    }
    if (following) entry.log.scrollTop = entry.log.scrollHeight;
    if (searchBox.value) applySearch();
    if (!permalinkDone) openPermalink();
  }

  // -- permalinks and search ---------------------------------------------------------------

  function openPermalink() {
    const hash = decodeURIComponent(location.hash.slice(1));
    if (!hash) { permalinkDone = true; return; }
    const target = document.getElementById(hash);
    if (!target) return; // not arrived yet; tried again with the next lines
    permalinkDone = true;
    let node = target.parentElement;
    while (node) {
      if (node.tagName === "DETAILS") node.open = true;
      node = node.parentElement;
    }
    target.classList.add("line-target");
    target.scrollIntoView({block: "center"});
  }

  const searchBox = document.getElementById("log-search");
  const searchCount = document.getElementById("log-search-count");

  function applySearch() {
    const needle = searchBox.value.trim().toLowerCase();
    let found = 0;
    document.querySelectorAll("#jobs .line").forEach(function (line) {
      const hit = needle !== "" && line.textContent.toLowerCase().includes(needle);
      line.classList.toggle("line-hit", hit);
      if (hit) {
        found += 1;
        let node = line.parentElement;
        while (node) {
          if (node.tagName === "DETAILS") node.open = true;
          node = node.parentElement;
        }
      }
    });
    searchCount.textContent = needle ? found + (found === 1 ? " match" : " matches") : "";
  }
  searchBox.addEventListener("input", applySearch);
  searchBox.addEventListener("keydown", function (event) {
    if (event.key !== "Enter") return;
    const hits = Array.from(document.querySelectorAll("#jobs .line-hit"));
    if (!hits.length) return;
    const current = hits.findIndex(function (line) { return line.classList.contains("line-current"); });
    hits.forEach(function (line) { line.classList.remove("line-current"); });
    const next = hits[(current + 1) % hits.length];
    next.classList.add("line-current");
    next.scrollIntoView({block: "center"});
  });
  window.addEventListener("hashchange", function () { permalinkDone = false; openPermalink(); });

  // -- the stream ----------------------------------------------------------------------------

  const source = new EventSource(root.dataset.eventsUrl);
  source.addEventListener("state", function (event) { applyState(JSON.parse(event.data)); });
  source.addEventListener("log", function (event) {
    const data = JSON.parse(event.data);
    appendLines(data.step, data.lines);
  });
  source.addEventListener("skipped", function (event) {
    const data = JSON.parse(event.data);
    const log = document.querySelector('.log[data-step="' + data.step + '"]');
    if (!log) return;
    const details = log.closest("details.step");
    const note = document.createElement("div");
    note.className = "log-skipped";
    note.innerHTML = data.lines.toLocaleString() + ' earlier lines are not shown here: <a href="' +
      details.querySelector("a.step-download").getAttribute("href") + '">the raw log</a> has them all.';
    log.appendChild(note);
  });
  source.addEventListener("end", function () {
    source.close();
    root.dataset.live = "ended";
    if (!permalinkDone) openPermalink();
  });
  root.dataset.live = "open";
})();
