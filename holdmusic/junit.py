"""JUnit XML for CI test reporters (GitLab, Jenkins, GitHub): one testcase per file."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from holdmusic.rules import Verdict
from holdmusic.text import printable

# XML 1.0 has no way to write most control characters, even as references: printable()
# turns them (and the surrogates a non-UTF-8 file name decodes to) into visible escapes.


def render(verdicts: Sequence[Verdict], *, strict: bool = False, suite: str = "holdmusic") -> str:
    """Failed files become <failure> elements whose text lists every problem."""
    failures = sum(not v.passed(strict) for v in verdicts)
    suites = ET.Element("testsuites", name=suite, tests=str(len(verdicts)), failures=str(failures))
    ts = ET.SubElement(
        suites,
        "testsuite",
        name=suite,
        tests=str(len(verdicts)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    for v in verdicts:
        case = ET.SubElement(ts, "testcase", classname=suite, name=printable(v.path))
        problems = "\n".join(f"{p.severity} [{p.code}]: {printable(p.message)}" for p in v.problems)
        if not v.passed(strict):
            blocking = v.errors or v.warnings
            first = blocking[0]
            message = printable(first.message)
            if not v.errors:  # failed only because --strict made its warnings count
                message = f"--strict: {message}"
                problems += "\nFAILED because of --strict: its warnings count as errors"
            failure = ET.SubElement(case, "failure", message=message, type=first.code)
            failure.text = problems
        elif problems:
            out = ET.SubElement(case, "system-out")
            out.text = problems
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
