"""Regression corpus: Porcupine's recorded kv histories with known verdicts (STYLE R13b)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checker import Verdict, check, model_for, operations, parse

CORPUS = Path(__file__).parent / "corpus"
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpora" / "porcupine-kv"
EXPECTED = {
    "c01-ok.txt": Verdict.VALID, "c01-bad.txt": Verdict.INVALID,
    "c10-ok.txt": Verdict.VALID, "c10-bad.txt": Verdict.INVALID,
    "c50-ok.txt": Verdict.VALID, "c50-bad.txt": Verdict.INVALID,
}


def _verdict(path: Path) -> Verdict:
    parsed = parse(path.read_text(encoding="utf-8"), source=str(path))
    assert parsed.format == "porcupine-kv"
    result = check(model_for(parsed.model), operations(parsed.events, where=parsed.where))
    if result.verdict == Verdict.INVALID:
        assert result.counterexamples, "an invalid verdict must come with a counterexample"
    return result.verdict


def test_vendored_corpus_is_complete() -> None:
    missing = [name for name in EXPECTED if not (CORPUS / name).is_file()]
    assert not missing, f"vendored corpus files missing from {CORPUS}: {missing}"
    assert (CORPUS / "README.md").is_file() and (CORPUS / "LICENSE-porcupine.md").is_file()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_corpus_file_gets_its_known_verdict(name: str) -> None:
    assert _verdict(CORPUS / name) == EXPECTED[name]


def test_vendored_copies_match_the_shared_corpus_when_present() -> None:
    # The shared corpus is outside the repo; a clean clone has only the vendored copies, which is enough.
    if not SHARED.is_dir():
        return
    for name in EXPECTED:
        assert (SHARED / name).read_bytes() == (CORPUS / name).read_bytes(), name
