// Conveyor's runner for actions/github-script: the workflow's `script` input runs as the
// body of an async function given what GitHub's action gives it (core, context, exec,
// glob, io, require, github). Written for Conveyor, with the machine's node; the
// `github` client answers every call with an error, as there is no GitHub API here.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const childProcess = require('child_process');

// -- core --------------------------------------------------------------------------

function commandValue(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string' || value instanceof String) return String(value);
  return JSON.stringify(value);
}

function escapeData(text) {
  return commandValue(text).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function escapeProperty(text) {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

function issue(command, properties, message) {
  const names = Object.keys(properties || {}).filter((k) => properties[k] !== undefined && properties[k] !== '');
  const props = names.map((k) => `${k}=${escapeProperty(properties[k])}`).join(',');
  process.stdout.write(`::${command}${props ? ' ' + props : ''}::${escapeData(message)}${os.EOL}`);
}

// Appends NAME<<DELIMITER ... DELIMITER, the multi-line form of the file commands.
function fileCommand(variable, name, value) {
  const file = process.env[variable];
  if (!file) throw new Error(`${variable} is not set: not running in a job`);
  const delimiter = `ghadelimiter_${Math.random().toString(36).slice(2)}${Date.now()}`;
  const text = commandValue(value);
  if (name.includes(delimiter) || text.includes(delimiter)) throw new Error('unexpected delimiter');
  fs.appendFileSync(file, `${name}<<${delimiter}${os.EOL}${text}${os.EOL}${delimiter}${os.EOL}`);
}

function annotation(kind) {
  return (message, properties = {}) => {
    const text = message instanceof Error ? message.toString() : message;
    const props = {
      title: properties.title,
      file: properties.file,
      line: properties.startLine,
      endLine: properties.endLine,
      col: properties.startColumn,
      endColumn: properties.endColumn,
    };
    issue(kind, props, text);
  };
}

class Summary {
  constructor() {
    this._buffer = '';
  }
  _file() {
    const file = process.env.GITHUB_STEP_SUMMARY;
    if (!file) throw new Error('GITHUB_STEP_SUMMARY is not set: no step summary here');
    return file;
  }
  async write(options = {}) {
    const file = this._file();
    if (options.overwrite) fs.writeFileSync(file, this._buffer);
    else fs.appendFileSync(file, this._buffer);
    return this.emptyBuffer();
  }
  async clear() {
    return this.emptyBuffer().write({ overwrite: true });
  }
  stringify() {
    return this._buffer;
  }
  isEmptyBuffer() {
    return this._buffer.length === 0;
  }
  emptyBuffer() {
    this._buffer = '';
    return this;
  }
  addRaw(text, addEOL = false) {
    this._buffer += text;
    return addEOL ? this.addEOL() : this;
  }
  addEOL() {
    return this.addRaw(os.EOL);
  }
  _wrap(tag, content, attributes = {}) {
    const attrs = Object.entries(attributes).map(([k, v]) => ` ${k}="${v}"`).join('');
    return content ? `<${tag}${attrs}>${content}</${tag}>` : `<${tag}${attrs}>`;
  }
  addHeading(text, level = 1) {
    const n = Math.min(Math.max(parseInt(level, 10) || 1, 1), 6);
    return this.addRaw(this._wrap(`h${n}`, text)).addEOL();
  }
  addCodeBlock(code, lang) {
    const attributes = lang ? { lang } : {};
    return this.addRaw(this._wrap('pre', this._wrap('code', code), attributes)).addEOL();
  }
  addList(items, ordered = false) {
    const body = items.map((item) => this._wrap('li', item)).join('');
    return this.addRaw(this._wrap(ordered ? 'ol' : 'ul', body)).addEOL();
  }
  addTable(rows) {
    const body = rows
      .map((row) => {
        const cells = row
          .map((cell) => {
            if (typeof cell === 'string') return this._wrap('td', cell);
            const tag = cell.header ? 'th' : 'td';
            const attrs = {};
            if (cell.colspan) attrs.colspan = cell.colspan;
            if (cell.rowspan) attrs.rowspan = cell.rowspan;
            return this._wrap(tag, cell.data, attrs);
          })
          .join('');
        return this._wrap('tr', cells);
      })
      .join('');
    return this.addRaw(this._wrap('table', body)).addEOL();
  }
  addDetails(label, content) {
    return this.addRaw(this._wrap('details', this._wrap('summary', label) + content)).addEOL();
  }
  addImage(src, alt, options = {}) {
    const attrs = { src, alt, ...options };
    return this.addRaw(this._wrap('img', null, attrs)).addEOL();
  }
  addSeparator() {
    return this.addRaw('<hr>').addEOL();
  }
  addBreak() {
    return this.addRaw('<br>').addEOL();
  }
  addQuote(text, cite) {
    return this.addRaw(this._wrap('blockquote', text, cite ? { cite } : {})).addEOL();
  }
  addLink(text, href) {
    return this.addRaw(this._wrap('a', text, { href })).addEOL();
  }
}

const core = {
  getInput(name, options = {}) {
    const value = process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] || '';
    if (options.required && !value) throw new Error(`Input required and not supplied: ${name}`);
    return options.trimWhitespace === false ? value : value.trim();
  },
  getMultilineInput(name, options = {}) {
    const lines = core.getInput(name, options).split('\n').filter((line) => line !== '');
    return options.trimWhitespace === false ? lines : lines.map((line) => line.trim());
  },
  getBooleanInput(name, options = {}) {
    const value = core.getInput(name, options);
    if (['true', 'True', 'TRUE'].includes(value)) return true;
    if (['false', 'False', 'FALSE'].includes(value)) return false;
    throw new TypeError(`Input does not meet YAML 1.2 "Core Schema" specification: ${name}`);
  },
  setOutput(name, value) {
    fileCommand('GITHUB_OUTPUT', name, value);
  },
  exportVariable(name, value) {
    process.env[name] = commandValue(value);
    fileCommand('GITHUB_ENV', name, value);
  },
  addPath(entry) {
    fs.appendFileSync(process.env.GITHUB_PATH, `${entry}${os.EOL}`);
    process.env.PATH = `${entry}${path.delimiter}${process.env.PATH || ''}`;
  },
  setSecret(secret) {
    issue('add-mask', {}, secret);
  },
  setCommandEcho(enabled) {
    issue('echo', {}, enabled ? 'on' : 'off');
  },
  setFailed(message) {
    process.exitCode = 1;
    core.error(message);
  },
  isDebug() {
    return process.env.RUNNER_DEBUG === '1';
  },
  debug(message) {
    issue('debug', {}, message);
  },
  error: annotation('error'),
  warning: annotation('warning'),
  notice: annotation('notice'),
  info(message) {
    process.stdout.write(message + os.EOL);
  },
  startGroup(name) {
    issue('group', {}, name);
  },
  endGroup() {
    issue('endgroup', {}, '');
  },
  async group(name, fn) {
    core.startGroup(name);
    try {
      return await fn();
    } finally {
      core.endGroup();
    }
  },
  saveState(name, value) {
    fileCommand('GITHUB_STATE', name, value);
  },
  getState(name) {
    return process.env[`STATE_${name}`] || '';
  },
  async getIDToken() {
    throw new Error('core.getIDToken: there is no OIDC token provider when running with Conveyor');
  },
  toPosixPath: (p) => p.replace(/[\\]/g, '/'),
  toWin32Path: (p) => p.replace(/[/]/g, '\\'),
  toPlatformPath: (p) => p.replace(/[/\\]/g, path.sep),
  summary: new Summary(),
  ExitCode: { Success: 0, Failure: 1 },
};
core.markdownSummary = core.summary;

// -- context -----------------------------------------------------------------------

function makeContext() {
  const env = process.env;
  let payload = {};
  if (env.GITHUB_EVENT_PATH && fs.existsSync(env.GITHUB_EVENT_PATH)) {
    try {
      payload = JSON.parse(fs.readFileSync(env.GITHUB_EVENT_PATH, 'utf8'));
    } catch (error) {
      process.stdout.write(`GITHUB_EVENT_PATH ${env.GITHUB_EVENT_PATH} is not JSON: ${error}${os.EOL}`);
    }
  }
  const context = {
    payload,
    eventName: env.GITHUB_EVENT_NAME,
    sha: env.GITHUB_SHA,
    ref: env.GITHUB_REF,
    workflow: env.GITHUB_WORKFLOW,
    action: env.GITHUB_ACTION,
    actor: env.GITHUB_ACTOR,
    job: env.GITHUB_JOB,
    runAttempt: parseInt(env.GITHUB_RUN_ATTEMPT, 10),
    runNumber: parseInt(env.GITHUB_RUN_NUMBER, 10),
    runId: parseInt(env.GITHUB_RUN_ID, 10),
    apiUrl: env.GITHUB_API_URL || 'https://api.github.com',
    serverUrl: env.GITHUB_SERVER_URL || 'https://github.com',
    graphqlUrl: env.GITHUB_GRAPHQL_URL || 'https://api.github.com/graphql',
  };
  Object.defineProperty(context, 'repo', {
    enumerable: true,
    get() {
      if (env.GITHUB_REPOSITORY) {
        const [owner, repo] = env.GITHUB_REPOSITORY.split('/');
        return { owner, repo };
      }
      if (payload.repository) return { owner: payload.repository.owner.login, repo: payload.repository.name };
      throw new Error("context.repo requires a GITHUB_REPOSITORY environment variable like 'owner/repo'");
    },
  });
  Object.defineProperty(context, 'issue', {
    enumerable: true,
    get() {
      const number = (payload.issue || payload.pull_request || payload).number;
      return { ...context.repo, number };
    },
  });
  return context;
}

// -- github: no API here ----------------------------------------------------------------

function offlineClient(trail) {
  const fail = () =>
    Promise.reject(
      new Error(
        `${trail}(): the GitHub API is not available when running with Conveyor ` +
          '(github-script gets no token and no GitHub here); this call cannot be made locally',
      ),
    );
  return new Proxy(fail, {
    get(target, name) {
      if (name === 'then') return undefined; // not a promise
      if (typeof name === 'symbol') return undefined;
      return offlineClient(`${trail}.${name}`);
    },
    apply() {
      return fail();
    },
  });
}

// -- exec ----------------------------------------------------------------------------

function splitCommandLine(line) {
  const args = [];
  let current = '';
  let quote = null;
  let started = false;
  for (const char of line) {
    if (quote) {
      if (char === quote) quote = null;
      else current += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      started = true;
    } else if (/\s/.test(char)) {
      if (started || current) args.push(current);
      current = '';
      started = false;
    } else current += char;
  }
  if (started || current) args.push(current);
  return args;
}

const exec = {
  exec(commandLine, args = [], options = {}) {
    return new Promise((resolve, reject) => {
      const [tool, ...first] = splitCommandLine(commandLine);
      const child = childProcess.spawn(tool, [...first, ...args], {
        cwd: options.cwd,
        env: options.env || process.env,
        stdio: [options.input ? 'pipe' : 'inherit', 'pipe', 'pipe'],
      });
      const listeners = options.listeners || {};
      if (!options.silent) process.stdout.write(`[command]${[tool, ...first, ...args].join(' ')}${os.EOL}`);
      child.stdout.on('data', (data) => {
        if (listeners.stdout) listeners.stdout(data);
        if (!options.silent) (options.outStream || process.stdout).write(data);
      });
      child.stderr.on('data', (data) => {
        if (listeners.stderr) listeners.stderr(data);
        if (!options.silent) (options.errStream || process.stderr).write(data);
      });
      if (options.input) child.stdin.end(options.input);
      child.on('error', (error) => reject(new Error(`There was an error when attempting to execute the process '${tool}'. ${error.message}`)));
      child.on('close', (code) => {
        if (code !== 0 && !options.ignoreReturnCode) {
          reject(new Error(`The process '${tool}' failed with exit code ${code}`));
        } else resolve(code);
      });
    });
  },
  async getExecOutput(commandLine, args = [], options = {}) {
    let stdout = '';
    let stderr = '';
    const listeners = options.listeners || {};
    const exitCode = await exec.exec(commandLine, args, {
      ...options,
      listeners: {
        ...listeners,
        stdout: (data) => {
          stdout += data.toString();
          if (listeners.stdout) listeners.stdout(data);
        },
        stderr: (data) => {
          stderr += data.toString();
          if (listeners.stderr) listeners.stderr(data);
        },
      },
    });
    return { exitCode, stdout, stderr };
  },
};

// -- glob -----------------------------------------------------------------------------

function globRegExp(pattern) {
  let text = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i];
    if (char === '*') {
      if (pattern[i + 1] === '*') {
        const slash = pattern[i + 2] === '/';
        text += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else text += '[^/]*';
    } else if (char === '?') text += '[^/]';
    else text += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${text}(?:/.*)?$`);
}

function walk(root, found) {
  let entries;
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch (error) {
    return;
  }
  for (const entry of entries) {
    const full = path.join(root, entry.name);
    found.push(full);
    if (entry.isDirectory()) walk(full, found);
  }
}

const glob = {
  async create(patterns, options = {}) {
    const lines = patterns.split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
    const rules = lines.map((line) => {
      const negate = line.startsWith('!');
      const pattern = path.resolve(negate ? line.slice(1) : line);
      const wild = pattern.search(/[*?[]/);
      const root = wild < 0 ? pattern : pattern.slice(0, pattern.lastIndexOf('/', wild)) || '/';
      return { negate, root, regexp: globRegExp(pattern) };
    });
    const search = () => {
      const candidates = new Set();
      for (const rule of rules.filter((r) => !r.negate)) {
        if (fs.existsSync(rule.root)) {
          candidates.add(rule.root);
          const found = [];
          walk(rule.root, found);
          found.forEach((f) => candidates.add(f));
        }
      }
      const matched = [];
      for (const candidate of [...candidates].sort()) {
        let keep = false;
        for (const rule of rules) if (rule.regexp.test(candidate)) keep = !rule.negate;
        const exact = rules.some((r) => !r.negate && r.regexp.source === globRegExp(candidate).source);
        if (keep && (options.implicitDescendants !== false || exact || !matched.some((m) => candidate.startsWith(m + '/')))) {
          if (options.matchDirectories === false && fs.statSync(candidate).isDirectory()) continue;
          matched.push(candidate);
        }
      }
      return matched;
    };
    return {
      getSearchPaths: () => rules.filter((r) => !r.negate).map((r) => r.root),
      glob: async () => search(),
      globGenerator: async function* generate() {
        yield* search();
      },
    };
  },
  async hashFiles(patterns) {
    const crypto = require('crypto');
    const files = (await (await glob.create(patterns)).glob()).filter((f) => fs.statSync(f).isFile());
    if (!files.length) return '';
    const total = crypto.createHash('sha256');
    for (const file of files) total.update(crypto.createHash('sha256').update(fs.readFileSync(file)).digest());
    return total.digest('hex');
  },
};

// -- io --------------------------------------------------------------------------------

const io = {
  async mkdirP(directory) {
    fs.mkdirSync(directory, { recursive: true });
  },
  async rmRF(target) {
    fs.rmSync(target, { recursive: true, force: true });
  },
  async cp(source, destination, options = {}) {
    let target = destination;
    if (fs.existsSync(destination) && fs.statSync(destination).isDirectory()) {
      target = path.join(destination, path.basename(source));
    }
    if (fs.statSync(source).isDirectory() && !options.recursive) {
      throw new Error(`Failed to copy. ${source} is a directory, but tried to copy without recursive flag.`);
    }
    fs.cpSync(source, target, { recursive: Boolean(options.recursive), force: options.force !== false });
  },
  async mv(source, destination, options = {}) {
    let target = destination;
    if (fs.existsSync(destination) && fs.statSync(destination).isDirectory()) {
      target = path.join(destination, path.basename(source));
    }
    if (fs.existsSync(target) && options.force === false) throw new Error('Destination already exists');
    fs.renameSync(source, target);
  },
  async which(tool, check = false) {
    const directories = (process.env.PATH || '').split(path.delimiter);
    for (const directory of tool.includes('/') ? [''] : directories) {
      const candidate = path.resolve(directory, tool);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        if (fs.statSync(candidate).isFile()) return candidate;
      } catch (error) {
        // not here
      }
    }
    if (check) throw new Error(`Unable to locate executable file: ${tool}.`);
    return '';
  },
  async findInPath(tool) {
    const found = await io.which(tool);
    return found ? [found] : [];
  },
};

// -- the script ------------------------------------------------------------------------

function handleError(error) {
  console.error(error);
  core.setFailed(`Unhandled error: ${error}`);
}

async function main() {
  const encoding = core.getInput('result-encoding') || 'json';
  if (encoding !== 'json' && encoding !== 'string') {
    throw new Error('"result-encoding" must be either "string" or "json"');
  }
  const script = core.getInput('script', { required: true });
  const originalRequire = require;
  const wrappedRequire = new Proxy(originalRequire, {
    apply(target, self, args) {
      const [name] = args;
      const where = [process.cwd(), path.join(process.cwd(), 'node_modules')];
      try {
        return target.apply(self, [require.resolve(name, { paths: where })]);
      } catch (error) {
        return target.apply(self, args);
      }
    },
  });
  const github = offlineClient('github');
  const AsyncFunction = Object.getPrototypeOf(async () => null).constructor;
  const body = new AsyncFunction(
    'require', 'github', 'context', 'core', 'exec', 'glob', 'io', 'fetch', 'octokit', '__original_require__',
    script,
  );
  const result = await body(
    wrappedRequire, github, makeContext(), core, exec, glob, io, globalThis.fetch, github, originalRequire,
  );
  const output = encoding === 'string' ? String(result) : JSON.stringify(result);
  core.setOutput('result', output);
}

process.on('unhandledRejection', handleError);
main().catch(handleError);
