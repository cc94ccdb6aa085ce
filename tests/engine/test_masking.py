"""Masking hides a secret in the encodings GitHub's runner hides: base64, URL, JSON."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from conveyor.engine.events import Status
from conveyor.engine.masking import MASK, Masker, encoded_forms
from conveyor.executors.local import LocalExecutor
from tests.engine.helpers import run_yaml

SECRET = "s3cr3t-Value/with+odd=chars"


def no_trace_of(secret: str, text: str) -> bool:
    """True when ``text`` holds no run of base64 that decodes to ``secret``, at any offset."""
    for start in range(len(text)):
        for end in range(start + 4, len(text) + 1):
            chunk = text[start:end]
            try:
                decoded = base64.b64decode(chunk + "=" * (-len(chunk) % 4), validate=True)
            except ValueError:
                continue
            if secret.encode() in decoded:
                return False
    return secret not in text


@pytest.mark.parametrize("prefix", ["", "a", "ab", "abc", "user:", "Authorization: Bearer "])
@pytest.mark.parametrize("suffix", ["", "\n", "x", "-trailing text"])
def test_it_hides_base64_of_a_secret_wherever_it_starts_and_whatever_follows(prefix, suffix):
    masker = Masker([SECRET])
    encoded = base64.b64encode(f"{prefix}{SECRET}{suffix}".encode()).decode()
    shown = masker.mask(f"encoded: {encoded}")
    assert MASK in shown
    assert no_trace_of(SECRET, shown.replace(MASK, " "))


def test_it_hides_the_plain_base64_whole_padding_included():
    masker = Masker(["hunter2"])
    assert masker.mask(base64.b64encode(b"hunter2").decode()) == MASK


def test_it_hides_url_and_json_escaped_forms():
    secret = 'p@ss w/"quote"&more\\end é'
    masker = Masker([secret])
    assert masker.mask(f"?token={quote(secret, safe='')}&x=1") == f"?token={MASK}&x=1"
    assert masker.mask(json.dumps({"token": secret})) == f'{{"token": "{MASK}"}}'
    unicode_json = json.dumps({"t": secret}, ensure_ascii=False)
    assert masker.mask(unicode_json) == f'{{"t": "{MASK}"}}'


def test_each_line_of_a_multi_line_secret_is_hidden_in_every_form():
    masker = Masker(["first-line-value\nsecond-line-value"])
    for line in ("first-line-value", "second-line-value"):
        assert masker.mask(line) == MASK
        assert masker.mask(base64.b64encode(line.encode()).decode()) == MASK
    assert MASK in masker.mask(base64.b64encode(b"first-line-value\nsecond-line-value").decode())


def test_add_mask_values_are_hidden_in_encoded_forms_too():
    masker = Masker()
    masker.add("generated-token-77")
    assert masker.mask(base64.b64encode(b"generated-token-77").decode()) == MASK


def test_short_encoded_forms_are_not_masked_everywhere():
    # A one-character secret's base64 fragments would hide half of every log.
    forms = encoded_forms("x")
    assert "x" in forms
    assert all(form == "x" or len(form) >= 4 for form in forms)
    assert Masker(["x"]).mask("ordinary text eHh4") == f"ordinary te{MASK}t eHh4"


@pytest.mark.slow
def test_a_step_piping_a_secret_through_base64_shows_no_trace_of_it(tmp_path):
    outcome = run_yaml(
        """
        on: push
        jobs:
          leak:
            runs-on: x
            steps:
              - run: |
                  printf %s "$S" | base64
                  printf 'x%s' "$S" | base64
                  printf 'xy%s\\n' "$S" | base64
                env:
                  S: ${{ secrets.S }}
              - shell: python
                run: |
                  import json, os, urllib.parse
                  print(json.dumps(os.environ["S"]))
                  print(urllib.parse.quote(os.environ["S"], safe=""))
                env:
                  S: ${{ secrets.S }}
        """,
        str(tmp_path),
        executor=LocalExecutor(),
        secrets={"S": 'tk-"9f8e7d/+=é'},
    )
    assert outcome.result.status == Status.SUCCESS
    lines = outcome.events.log("leak", 0) + outcome.events.log("leak", 1)
    assert len(lines) == 5
    for line in lines:
        assert MASK in line
        assert no_trace_of('tk-"9f8e7d/+=é', line.replace(MASK, " "))
