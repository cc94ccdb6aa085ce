"""Action repositories for tests: real bare git repositories under a base directory,
which Conveyor fetches ``owner/repo@ref`` from as it would from https://github.com."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.helpers import git

# A JavaScript action written as GitHub's toolkit (@actions/core) would behave, without
# the package: inputs from INPUT_*, outputs and state through the GITHUB_* files,
# core.setSecret's `::add-mask::` line, and the action's files read beside the script.
HELLO_ACTION = {
    "action.yml": """\
        name: Hello
        inputs:
          who:
            required: true
          greeting:
            default: Hello
          token:
            default: ${{ github.token }}
          dry run:
            default: "no"
        outputs:
          greeting:
            description: what was said
        runs:
          using: node20
          pre: pre.js
          main: main.js
          post: post.js
        """,
    "pre.js": """\
        const fs = require('fs');
        fs.appendFileSync(process.env.GITHUB_STATE, `started=pre-${process.env.INPUT_WHO}\\n`);
        console.log(`pre for ${process.env.INPUT_WHO}`);
        """,
    "main.js": """\
        const fs = require('fs');
        const path = require('path');
        const env = process.env;
        const version = fs.readFileSync(path.join(__dirname, 'VERSION'), 'utf8').trim();
        // A value the workflow never saw, made secret as core.setSecret does it.
        const secret = 'pw-' + env.INPUT_WHO.split('').reverse().join('') + '-' + version;
        console.log('::add-mask::' + secret);
        console.log(`${env.INPUT_GREETING}, ${env.INPUT_WHO}! (version ${version})`);
        console.log(`state from pre: ${env.STATE_started}`);
        console.log(`dry run: ${env.INPUT_DRY_RUN}`);
        console.log(`the secret is ${secret}`);
        console.log(`action: ${env.GITHUB_ACTION_REPOSITORY}@${env.GITHUB_ACTION_REF}`);
        console.log(`action path: ${env.GITHUB_ACTION_PATH}`);
        const delimiter = 'ghadelimiter_' + Date.now();
        fs.appendFileSync(
          env.GITHUB_OUTPUT,
          `greeting<<${delimiter}\\n${env.INPUT_GREETING}, ${env.INPUT_WHO}\\n${delimiter}\\n` +
            `token=${env.INPUT_TOKEN}\\nversion=${version}\\n`,
        );
        console.log('::set-output name=legacy::set the old way');
        fs.appendFileSync(env.GITHUB_STATE, `secret=${secret}\\n`);
        if (env.INPUT_WHO === 'nobody') process.exit(4);
        """,
    "post.js": """\
        console.log(`post: ${process.env.STATE_started}, ${process.env.STATE_secret}`);
        """,
    "VERSION": "2\n",
}


def publish(
    base: Path, name: str, commits: list[dict[str, str]], tag: str | None = "v1"
) -> list[str]:
    """Make ``base/<name>.git`` with one commit per files dict (each adding to the last);
    ``tag`` names the last commit. Returns the commits' SHAs, first first."""
    work = base / "work" / name
    work.mkdir(parents=True)
    git("init", "--quiet", "--initial-branch=main", cwd=work)
    shas = []
    for files in commits:
        for path, text in files.items():
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text))
        git("add", ".", cwd=work)
        git("commit", "--quiet", "-m", f"commit {len(shas) + 1}", cwd=work)
        shas.append(git("rev-parse", "HEAD", cwd=work).strip())
    if tag:
        git("tag", tag, cwd=work)
    bare = base / f"{name}.git"
    bare.parent.mkdir(parents=True, exist_ok=True)
    git("clone", "--quiet", "--bare", str(work), str(bare), cwd=base)
    return shas


def publish_hello(base: Path) -> tuple[str, str]:
    """``octo/hello``: version 1 at the first commit, version 2 at the second (tag v1)."""
    first, second = publish(base, "octo/hello", [{**HELLO_ACTION, "VERSION": "1\n"}, HELLO_ACTION])
    return first, second
