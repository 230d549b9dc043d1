from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from faults.log import FaultInterval
from harness.checker import check, model_for, operations, parse
from harness.junit import CaseResult
from harness.report import ReportInput, render_report
from workloads.history import Event

CORPUS = Path(__file__).resolve().parents[1] / "checker" / "corpus"


def _events(name: str) -> tuple[list[Event], str]:
    path = CORPUS / name
    if not path.exists():
        path = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "porcupine-kv" / name
    parsed = parse(path.read_text(), source=name)
    # The corpus has no times; give each event a time so the time-based charts have data.
    return [dataclasses.replace(e, time=e.index * 10_000_000) for e in parsed.events], parsed.model


def _report(name: str, **kw: object) -> str:
    events, model = _events(name)
    result = check(model_for(model), operations(events))
    data = ReportInput(scenario="s<1>", description="d & d", seed=7, nodes=3, duration_s=10.0, events=events,
                       faults=[FaultInterval(start_s=1, end_s=2, label="partition <halves>")],
                       cases=[CaseResult(name="linearizable", outcome="fail" if result.counterexamples else "pass")],
                       check=result, **kw)  # type: ignore[arg-type]
    return render_report(data)


def test_an_invalid_history_gets_a_counterexample_section_per_bad_key() -> None:
    html = _report("c01-bad.txt")
    assert "FAILED" in html
    assert html.count("<h2>Counterexample: key") >= 1
    assert "could not be placed" in html


def test_a_valid_history_has_no_counterexample_and_passes() -> None:
    html = _report("c01-ok.txt")
    assert "PASSED" in html and "Counterexample" not in html


def test_text_from_the_history_and_scenario_is_escaped_and_the_page_is_self_contained() -> None:
    html = _report("c01-ok.txt")
    assert "s&lt;1&gt;" in html and "d &amp; d" in html and "partition &lt;halves&gt;" in html
    assert "<script" not in html
    assert not re.search(r'(src|href)="https?://', html), "the report must open offline"
    assert html.count("<svg") >= 4


def test_fault_timeline_names_the_kind_and_lists_each_fault_in_full() -> None:
    events, _ = _events("c01-ok.txt")
    label = "partition isolate-leader (drop): n1 cannot hear n2; n2 cannot hear n1,n3; n3 cannot hear n2"
    html = render_report(ReportInput(scenario="s", description="d", seed=1, nodes=3, duration_s=10.0,
                                     events=events, faults=[FaultInterval(start_s=1, end_s=2.5, label=label)],
                                     cases=[], check=None))
    assert ">partition isolate-leader (drop)</text>" in html  # the axis label: the kind only
    assert f"<td>1.0 s</td><td>2.5 s</td><td>{label}</td>" in html  # the list: everything


def test_a_check_not_available_for_the_target_is_shown_as_such_and_does_not_make_the_run_undecided() -> None:
    from harness.junit import NOT_AVAILABLE

    events, model = _events("c01-ok.txt")
    result = check(model_for(model), operations(events))
    html = render_report(ReportInput(
        scenario="s", description="d", seed=1, nodes=3, duration_s=10.0, events=events, faults=[],
        cases=[CaseResult(name="linearizable", outcome="pass"),
               CaseResult(name="agreement", outcome=NOT_AVAILABLE, message="the target has no state probe")],
        check=result, target="mysys"))
    assert "PASSED" in html and "not available" in html and "mysys" in html


def test_perf_plots_per_operation_type_the_node_first_and_links_to_the_run_files() -> None:
    html = _report("c01-ok.txt", node_status=[{"role": "leader", "node": 1, "applied_index": 5}],
                   files=("history.jsonl", "logs/n1.log"))
    assert "<h2>Throughput by operation type" in html and "<h2>Latency quantiles by operation type" in html
    assert 'aria-label="latency quantiles by operation type"' in html and "p99</title>" in html
    nodes = html.split("<h2>Nodes</h2>", 1)[1]
    assert nodes.index("<th>node</th>") < nodes.index("<th>applied_index</th>") < nodes.index("<th>role</th>")
    assert '<a href="history.jsonl">' in html and '<a href="logs/n1.log">' in html


def test_the_counterexample_shows_the_stale_read_with_the_writes_around_it_and_no_more() -> None:
    from harness.checker import KVModel
    from harness.checker.counterexample import SHOWN_MAX
    from tests.checker.histories import Execution

    ex = Execution(seed=5, processes=10, keys=2, ops=6000, p_info=0.03)
    ex.run()
    events = ex.tail("stale-read")
    result = check(KVModel(), operations(events))
    html = render_report(ReportInput(scenario="s", description="d", seed=1, nodes=3, duration_s=1.0,
                                     events=events, faults=[], cases=[], check=result))
    section = html[html.index("<h2>Counterexample: key"):]
    timeline = section[:section.index("</svg>")]
    assert "put(&#x27;old&#x27;)" in timeline and "put(&#x27;new&#x27;)" in timeline
    assert "get() = &#x27;old&#x27;" in timeline and "cannot be placed" in timeline
    assert 3 <= timeline.count("<rect") <= SHOWN_MAX
    assert "&#x27;new&#x27;</code>" in section  # the state the search reached before the stale read
