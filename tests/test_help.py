"""What a newcomer meets first: ``hpfw --help``, ``hpfw --version`` and shell completion."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

from hpfw.help import format_groups, is_hidden, without_hidden
from tests.helpers import ROOT, run_cli


def test_help_page_is_hpfws(tmp_path):
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page = result.stdout
    assert page.startswith("hpfw: hyperparameter tuning for JAX")
    for command in ("hpfw -m ", "hpfw report ", "hydra/sweeper=bayes", "hydra/launcher=batched"):
        assert command in page, command
    assert "task=lm" in page and "outputs/sweeps/" in page and "docs/" in page
    assert "schema" not in page and "powered by Hydra" not in page
    groups = page.split("== Config groups")[1].split("==")[1]
    assert "  model: cnn, mlp*, transformer; task=lm only: decoder" in page
    assert "  hydra/sweeper: " in groups and "+search: " in groups


def test_help_follows_the_overrides_and_the_searchpath(tmp_path):
    searchpath = f"hydra.searchpath=[file://{ROOT / 'examples' / 'user_conf'}]"
    result = run_cli("task=lm", searchpath, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "  model: decoder*, wide_mlp; task=classify only: cnn, mlp, transformer" in result.stdout


def test_hydra_help_stays_hydras(tmp_path):
    result = run_cli("--hydra-help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Hydra" in result.stdout and "hydra/sweeper" in result.stdout


def test_version_names_hpfw_its_libraries_and_the_device(tmp_path):
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"hpfw {version('hpfw')}"
    assert lines[1] == f"Hydra {version('hydra-core')}"
    assert lines[2].startswith(f"JAX {version('jax')} (jaxlib ")
    assert lines[3:5] == [f"Flax {version('flax')}", f"Optax {version('optax')}"]
    assert lines[5].startswith("default device: cpu:0")


def complete(line: str, cwd) -> str:
    result = run_cli("-sc", "query=bash", cwd=cwd, env={"COMP_LINE": line})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_shell_completion(tmp_path):
    script = run_cli("-sc", "install=bash", cwd=tmp_path).stdout
    assert "complete -o nospace -o default -F hydra_bash_completion" in script
    assert "model=" in complete("hpfw mod", tmp_path).split()
    assert set(complete("hpfw model=", tmp_path).split()) == {
        "model=cnn", "model=decoder", "model=mlp", "model=transformer"
    }  # fmt: skip
    everything = complete("hpfw ", tmp_path)
    assert "model=" in everything and "schema" not in everything


def test_shell_completion_from_bash(tmp_path):
    """The installed function, as bash runs it at a Tab (the console script on PATH)."""
    script = (
        'eval "$(hpfw -sc install=bash)"; COMP_LINE="hpfw mod"; COMP_POINT=8; '
        "COMP_WORDS=(hpfw mod); COMP_CWORD=1; hydra_bash_completion; echo ${COMPREPLY[*]}"
    )
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.stdout.split() == ["model.", "model="], result.stderr


def test_group_lines():
    groups = {"model": ["cnn", "decoder", "mlp"], "search": ["mlp"], "hydra/sweeper": ["grid"]}
    text = format_groups(
        groups,
        choices={"model": "mlp", "hydra/sweeper": "grid"},
        excluded={"model": {"decoder": "task=lm only"}},
    )
    assert text.splitlines() == [
        "  model: cnn, mlp*; task=lm only: decoder",
        "  +search: mlp",
        "  hydra/sweeper: grid*",
    ]


def test_hidden_groups():
    assert all(map(is_hidden, ["schema", "schema/model", "schema=", "+schema/model=", "schema."]))
    assert not any(map(is_hidden, ["search=", "schemas", "model"]))
    assert without_hidden("data= schema schema/ search=\n") == "data= search=\n"
