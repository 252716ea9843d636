"""The status page takes the runtime's state names, reasons and timings keys from
`modeldeploy.runtime_report` (written into the page when it is built) and spells none itself,
so a state renamed there cannot leave the page matching the old name. No server, no browser:
`test_status_page_in_a_browser.py` shows the page working."""

from __future__ import annotations

import json
import re
from typing import Any

from modeldeploy import runtime_report
from modeldeploy.runtime import page, page_html

SCRIPT_V = re.compile(r"const V = (\{.*?\});\n", re.DOTALL)


def embedded() -> dict[str, Any]:
    found = SCRIPT_V.search(page.PAGE)
    assert found, "the page's script holds no vocabulary"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_the_page_embeds_the_runtime_reports_names() -> None:
    data = embedded()
    assert data["states"] == {s.name: str(s) for s in runtime_report.State}
    assert data["reasons"] == {r.name: str(r) for r in runtime_report.Reason}
    assert [state for state, _ in data["phases"]] == [
        s for s in runtime_report.ROAD_TO_READY if s in runtime_report.SECONDS_IN
    ]
    assert dict(data["phases"]) == {str(s): k for s, k in runtime_report.SECONDS_IN.items()}
    assert data["startupSeconds"] == runtime_report.STARTUP_SECONDS


def test_the_template_spells_no_state_reason_or_timings_key() -> None:
    names = [
        *runtime_report.State,
        *runtime_report.Reason,
        *runtime_report.SECONDS_IN.values(),
        runtime_report.STARTUP_SECONDS,
    ]
    spelled = [n for n in names if re.search(rf"(?<!V\.)\b{n}\b", page_html.TEMPLATE)]
    assert spelled == [], "take these from the vocabulary (V) instead"


def test_every_name_the_script_reads_exists_in_the_runtime_report() -> None:
    script = page_html.TEMPLATE
    states = set(re.findall(r"\bS\.([A-Z_]+)", script))
    reasons = set(re.findall(r"\bV\.reasons\.([A-Z_]+)", script))
    keys = set(re.findall(r"\bV\.([A-Za-z]+)", script))
    assert states and states <= set(runtime_report.State.__members__)
    assert reasons and reasons <= set(runtime_report.Reason.__members__)
    assert keys and keys <= set(embedded())


def test_a_closing_script_tag_in_a_name_cannot_end_the_script() -> None:
    template = "<script>const V = " + page_html.VOCABULARY_SLOT + ";</script>"
    built = page.build(template)
    assert built.count("</") == 1 and built.endswith("</script>")
