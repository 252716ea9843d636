"""Progress events: the JSON shape the operator parses, and the live bar on a terminal."""

from __future__ import annotations

import io
import json

from modeldeploy.hub import console
from modeldeploy.hub.progress import ProgressEvent, ProgressMeter


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_event_json_uses_the_contract_keys():
    event = ProgressEvent(
        "downloading",
        bytes_done=5,
        bytes_total=10,
        files_done=1,
        files_total=2,
        bytes_per_second=2.5,
        eta_seconds=2.0,
    )

    assert event.to_json() == {
        "event": "downloading",
        "bytesDone": 5,
        "bytesTotal": 10,
        "filesDone": 1,
        "filesTotal": 2,
        "bytesPerSecond": 2.5,
        "etaSeconds": 2.0,
    }


def test_json_mode_prints_one_object_per_line_and_an_error_line():
    out = io.StringIO()
    printer = console.ProgressPrinter("json", out=out, err=io.StringIO())

    printer(ProgressEvent("resolving"))
    printer.error("Stalled", "model.safetensors: no bytes for 60s")

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["resolving", "error"]
    assert lines[1] == {
        "event": "error",
        "reason": "Stalled",
        "message": "model.safetensors: no bytes for 60s",
    }


def test_auto_mode_draws_a_bar_on_a_terminal_and_prints_a_summary():
    out, err = io.StringIO(), _Terminal()
    printer = console.ProgressPrinter("auto", out=out, err=err)

    printer(
        ProgressEvent(
            "downloading",
            bytes_done=500_000_000,
            bytes_total=1_000_000_000,
            bytes_per_second=100e6,
            eta_seconds=5,
        )
    )
    printer.finish("done")

    assert "50.0%" in err.getvalue() and "100.0 MB/s" in err.getvalue()
    assert "ETA 00:05" in err.getvalue()
    assert out.getvalue() == "done\n"


def test_auto_mode_off_a_terminal_prints_only_the_summary():
    out, err = io.StringIO(), io.StringIO()
    printer = console.ProgressPrinter("auto", out=out, err=err)

    printer(ProgressEvent("downloading", bytes_done=1, bytes_total=2))
    printer.finish("summary")

    assert err.getvalue() == "" and out.getvalue() == "summary\n"


def test_meter_counts_resumed_bytes_as_done_but_not_as_speed():
    events: list[ProgressEvent] = []
    meter = ProgressMeter(on_progress=events.append, interval=0)
    meter.start("downloading", bytes_total=100, files_total=1)

    meter.add_bytes(60, moved=False)
    meter.add_bytes(10)

    assert events[-1].bytes_done == 70 and meter.moved == 10
