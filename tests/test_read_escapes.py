"""JSON-escaped text inside messages: the decoded variant rules also see, and the prefilter's side
(the escaped forms of a literal, colour codes written as text)."""
from __future__ import annotations

import json

import pytest

from logsleuth.model import Origin, Record
from logsleuth.read.escapes import decoded, escaped_forms, has_escape, message_texts, strip_escaped_ansi, unescape


def test_ansible_failed_line_decodes_its_nested_json_string():
    # Ansible prints the module result as JSON; its msg is a JSON text again (two levels).
    line = ('fatal: [ci-1]: FAILED! => {"changed": false, "msg": "FAILED! => {\\"stderr\\": '
            '\\"x509: certificate signed by unknown authority\\\\n(exit 1)\\"}"}')
    out = decoded(line)
    assert out is not None
    assert '{"stderr": "x509: certificate signed by unknown authority\n(exit 1)"}' in out


def test_structured_logger_error_loses_its_escaped_colour_codes():
    line = ('{"level":"error","msg":"Checking for jobs... failed","error":"dial tcp: lookup gitlab on '
            '10.0.0.2:53: no such host\\u001b[0m"}')
    # A whole JSON object renders as the runner prints it: the message, then key=value sorted.
    assert decoded(line) == "Checking for jobs... failed  error=dial tcp: lookup gitlab on 10.0.0.2:53: no such host"


def test_escapes_in_a_text_line_are_decoded_and_colour_removed():
    line = 'msg="\\u001b[31;1mERROR: Job failed\\u001b[0;m: exit code 1\\nsee \\"https://x/\\" \\u003e log"'
    assert decoded(line) == 'msg="ERROR: Job failed: exit code 1\nsee "https://x/" > log"'
    assert decoded('Running with \\x1b[32mgitlab-runner\\033[0m 16.4') == "Running with gitlab-runner 16.4"


def test_lines_without_escapes_have_no_variant():
    assert decoded("ERROR: Checking for jobs... forbidden  runner=abc") is None
    assert decoded("a backslash that escapes nothing: C:\\Program Files") is None
    assert not has_escape("plain") and has_escape('say \\"hi\\"')
    assert decoded("{not json at all}") is None


def test_surrogate_pairs_join_and_lone_halves_are_replaced():
    assert unescape("smile \\ud83d\\ude00, broken \\ud83d.") == "smile \U0001F600, broken \ufffd."


def test_a_record_computes_its_variant_once_and_keeps_the_message():
    rec = Record(message='error: \\"quoted\\"', origin=Origin("x", 1), format="plain")
    assert message_texts(rec) == ['error: \\"quoted\\"', 'error: "quoted"']
    assert rec.decoded == 'error: "quoted"' and rec.message == 'error: \\"quoted\\"'
    plain = Record(message="nothing escaped", origin=Origin("x", 2), format="plain")
    assert message_texts(plain) == ["nothing escaped"] and plain.decoded == ""
    assert rec == Record(message='error: \\"quoted\\"', origin=Origin("x", 1), format="plain")  # not identity


@pytest.mark.parametrize("text", ['Post "https://gitlab.example.com/api/v4/jobs/request"', "a <b> & c",
                                  "tab\there", "caf\u00e9 ouvert", 'back\\slash "q"'])
def test_every_json_encoder_style_writes_a_literal_as_one_of_its_forms(text):
    lit = text.encode().lower()
    forms = escaped_forms(lit) | {lit}
    encodings = [json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]]
    encodings.append(encodings[0].replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
    encodings += [json.dumps(e)[1:-1] for e in list(encodings)]  # a JSON string inside a JSON string
    for enc in encodings:
        assert enc.encode().lower() in forms, enc


def test_plain_literals_have_no_other_form():
    assert escaped_forms(b"x509: certificate signed by unknown authority") == frozenset()


def test_colour_codes_written_as_text_are_stripped_from_scanned_blocks():
    block = b'arch\\u001b[0;m=amd64 os\\u001B[0;m=linux\n\\\\u001b[31mFATAL: x\\x1b[0m \\033[1mbold\n'
    assert strip_escaped_ansi(block) == b"arch=amd64 os=linux\nFATAL: x bold\n"
    same = b'no colour \\"here\\"\n'
    assert strip_escaped_ansi(same) is same
