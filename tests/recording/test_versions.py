"""Issue 19 #13: a recording of a schema version this inspector does not read (99) is never read
silently — every reader says so, naming the version: view shows it, replay and OTLP export leave it
out and say why, diff and HAR/HTML export refuse it."""

import shutil

import orjson
import pytest

from inspector.cli import main
from inspector.recording import ReplayIndex, compare, list_sessions
from inspector.testing.otlp import OtlpReceiver
from inspector.testing.samples import samples_dir

V99 = "inspector.recording/99"


def _copy(tmp_path, where: str):
    """A sample session whose session.json (``where="session"``) or every exchange.json says version 99."""
    source = list_sessions(samples_dir())[1]
    root = tmp_path / where
    shutil.copytree(source.path, root / source.name)
    files = [root / source.name / "session.json"] if where == "session" else list((root / source.name).glob(
        "*/exchange.json"))
    for f in files:
        data = orjson.loads(f.read_bytes())
        data["schema"] = V99
        f.write_bytes(orjson.dumps(data))
    (session,) = list_sessions(root)
    return root, session


@pytest.fixture(params=["session", "exchange"])
def v99(request, tmp_path):
    return _copy(tmp_path, request.param)


def test_the_reader_says_which_version_it_met(v99):
    root, session = v99
    for ex in session.exchanges():
        assert V99 in (ex.schema_problem or "") and "inspector.recording/1" in ex.schema_problem
    (source,) = [s for s in list_sessions(samples_dir()) if s.name == session.name]
    assert all(ex.schema_problem is None for ex in source.exchanges()), "ours are read as they are"


def test_replay_leaves_it_out_and_says_so(v99):
    root, session = v99
    index = ReplayIndex(list_sessions(root))
    assert index.count == 0 and index.refused and all(V99 in why for why in index.refused)
    both = ReplayIndex(list_sessions(root) + list_sessions(samples_dir()))
    assert both.count > 0 and both.refused, "the others still replay"


def test_the_pytest_fixture_refuses_to_serve_it(v99):
    from inspector.pytest_plugin import RecordingServer
    root, _ = v99
    with pytest.warns(UserWarning, match="recording/99"), pytest.raises(ValueError, match="nothing to replay"):
        RecordingServer(root)


def test_diff_refuses_it_naming_the_version(v99, capsys):
    root, session = v99
    with pytest.raises(ValueError, match="recording/99"):
        compare(session.name, session.name, root=str(root))
    assert main(["diff", session.name, session.name, "--root", str(root), "--text"]) == 2
    assert "recording/99" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["--har", "--html"])
def test_har_and_html_export_refuse_it_naming_the_version(v99, kind, capsys, tmp_path):
    root, session = v99
    out = tmp_path / "out"
    assert main(["export", kind, session.name, "--root", str(root), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "recording/99" in err and "Traceback" not in err and not out.exists()


def test_otlp_export_skips_it_and_says_why(v99, capsys):
    root, session = v99
    with OtlpReceiver() as rx:
        assert main(["export", "--otlp", str(root), "--endpoint", rx.url, "--no-metrics"]) == 2
        assert rx.spans() == []
    err = capsys.readouterr().err
    assert "skipped" in err and "recording/99" in err and "nothing to export" in err
