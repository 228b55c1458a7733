"""The documentation runs: every command block of README.md and docs/*.md that a reader would run is executed here,
against the suite's server (docs/development.md "Documentation that is tested").

A fenced block's info string says what it is:
  ```python run / ```sh run               run, in a fresh process, from the repository root
  ```python run continue / ```sh run continue
                                          appended to the runnable blocks before it in the same file (same language),
                                          and run with them as one program
  ```python excerpt=examples/x.py        must appear, line for line, in that file (test_examples.py runs it)
  ```sh norun / ```python norun           not run: it starts a server, needs a browser or a CI system, or holds a
                                          value only the reader has
  ```toml check-config                   checked with `keyzone check-config --config <the block>`
Every sh/bash/shell/console/python/py block must carry one of run, norun or excerpt=, so a new one cannot be
forgotten.

Runnable blocks get KEYZONE_SERVER and KEYZONE_API_KEY (the suite's server and its admin key; the names the `keyzone`
CLI reads too), MCP_PORT (a free port), a HOME of their own, and a PATH that starts with the directory of the keyzone
binary under test and of this venv's python. Blocks that use curl or jq are skipped, loudly, when those are missing,
unless CI=true.

Also checked: relative links and their #anchors resolve; every `pip install` pin in the docs and in
examples/requirements.txt is the version tests/sdk/requirements.txt tests; every setting `keyzone check-config`
prints appears in docs/configuration.md.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from sdk_processes import REPO_ROOT, free_port, keyzone_bin

DOC_FILES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
SUITE_REQUIREMENTS = REPO_ROOT / "tests" / "sdk" / "requirements.txt"
EXAMPLE_REQUIREMENTS = REPO_ROOT / "examples" / "requirements.txt"
SH_LANGS = {"sh", "bash", "shell", "console", "zsh"}
PY_LANGS = {"python", "py", "pycon"}
KNOWN_FLAGS = {"run", "norun", "continue"}
BLOCK_TIMEOUT_S = 120
FENCE_RE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    words: List[str]
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO_ROOT)}:{self.line}"

    @property
    def excerpt_of(self) -> Optional[str]:
        for w in self.words:
            if w.startswith("excerpt="):
                return w.split("=", 1)[1]
        return None

    @property
    def is_command(self) -> bool:
        return self.lang in SH_LANGS or self.lang in PY_LANGS


def blocks_of(path: Path) -> List[Block]:
    """The fenced code blocks of a Markdown file (indented ones in lists too), dedented by the fence's indent."""
    out: List[Block] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = len(m["indent"]), m["fence"], m["info"].strip()
        body: List[str] = []
        j = i + 1
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.lstrip(fence[0]):
                break
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j].lstrip())
            j += 1
        words = info.split()
        lang = words[0].lower() if words else ""
        out.append(Block(path, i + 1, lang, words[1:], "\n".join(body) + "\n"))
        i = j + 1
    return out


ALL_BLOCKS: List[Block] = [b for p in DOC_FILES for b in blocks_of(p)]


@dataclass
class Chain:
    """Runnable blocks run as one program: a `run` block and the `run continue` blocks after it."""

    blocks: List[Block] = field(default_factory=list)

    @property
    def lang(self) -> str:
        return "python" if self.blocks[0].lang in PY_LANGS else "sh"

    @property
    def where(self) -> str:
        return self.blocks[0].where

    def script(self) -> str:
        return "\n".join(f"# --- {b.where}\n{b.text}" for b in self.blocks)


def chains() -> List[Chain]:
    found: List[Chain] = []
    for path in DOC_FILES:
        last: Dict[str, Chain] = {}
        for b in blocks_of(path):
            if not b.is_command or "run" not in b.words:
                continue
            kind = "python" if b.lang in PY_LANGS else "sh"
            if "continue" in b.words and kind in last:
                last[kind].blocks.append(b)
            else:
                last[kind] = Chain([b])
                found.append(last[kind])
    return found


CHAINS = chains()


def block_env(server, home: Path) -> Dict[str, str]:
    """The environment of a documented command or an example: the suite's server and key, and nothing of the caller's
    Keyzone, Keycard or CI settings."""
    drop = ("KEYZONE_", "KEYCARD_", "ACTIONS_ID_TOKEN_", "MCP_SERVER_URL", "CI_OIDC_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    path_dirs = [str(keyzone_bin().parent), str(Path(sys.executable).parent), env.get("PATH", "")]
    env.update(
        KEYZONE_SERVER=server.base_url,
        KEYZONE_API_KEY=server.api_key,
        MCP_PORT=str(free_port()),
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        PATH=os.pathsep.join(path_dirs),
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def in_ci() -> bool:
    return os.environ.get("CI", "") in ("true", "1")


def run_program(argv: List[str], env: Dict[str, str], what: str, timeout: float = BLOCK_TIMEOUT_S) -> subprocess.CompletedProcess:
    try:
        res = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{what} did not finish within {timeout:.0f}s\n--- stdout\n{e.stdout}\n--- stderr\n{e.stderr}", pytrace=False)
    return res


def tail(text: str, n: int = 60) -> str:
    lines = (text or "").splitlines()
    return "\n".join(lines[-n:]) or "<empty>"


# --------------------------------------------------------------------------- every block is marked


def test_command_blocks_are_marked():
    """Every command block says whether it runs; a typo in a marker, or a `continue` with nothing before it, fails."""
    problems: List[str] = []
    seen_run: Dict[Tuple[Path, str], bool] = {}
    for b in ALL_BLOCKS:
        if not b.is_command:
            continue
        flags = [w for w in b.words if not w.startswith("excerpt=")]
        unknown = [w for w in flags if w not in KNOWN_FLAGS]
        kind = "python" if b.lang in PY_LANGS else "sh"
        marks = ("run" in flags) + ("norun" in flags) + (b.excerpt_of is not None)
        if unknown:
            problems.append(f"{b.where}: unknown marker(s) {unknown} in ```{b.lang} {' '.join(b.words)}")
        elif marks != 1:
            problems.append(
                f"{b.where}: a ```{b.lang} block needs exactly one of `run`, `norun` or `excerpt=<file>` "
                f"after the language (got {' '.join(b.words) or 'none'}); see docs/development.md"
            )
        elif "continue" in flags and not ("run" in flags and seen_run.get((b.path, kind))):
            problems.append(f"{b.where}: `run continue` needs a runnable ```{b.lang} block before it in the same file")
        if "run" in flags:
            seen_run[(b.path, kind)] = True
    assert not problems, "unmarked or mis-marked code blocks:\n" + "\n".join(problems)


def test_the_docs_have_runnable_blocks():
    """The quick start's token flow and each guide are among the runnable blocks (a guard against a parser that finds
    nothing)."""
    where = {c.blocks[0].path.name for c in CHAINS}
    for name in ("README.md", "guide-agent.md", "guide-mcp-server.md", "guide-workload-identity.md", "management-api.md"):
        assert name in where, f"expected a runnable block in {name}; runnable chains: {[c.where for c in CHAINS]}"


# --------------------------------------------------------------------------- runnable blocks


@pytest.mark.parametrize("chain", CHAINS, ids=[c.where for c in CHAINS])
def test_runnable_block(chain: Chain, server, tmp_path):
    script = chain.script()
    if chain.lang == "sh":
        missing = [tool for tool in ("curl", "jq") if re.search(rf"(^|[\s|$(]){tool}\s", script) and not shutil.which(tool)]
        if missing:
            if in_ci():
                pytest.fail(f"{chain.where} needs {missing}, which are not installed (CI=true)", pytrace=False)
            print(f"\n*** SKIPPING {chain.where}: {missing} not installed ***", file=sys.stderr)
            pytest.skip(f"{missing} not installed")
    home = tmp_path / "home"
    home.mkdir()
    file = tmp_path / ("block.py" if chain.lang == "python" else "block.sh")
    file.write_text(script)
    argv = [sys.executable, str(file)] if chain.lang == "python" else ["bash", "-euo", "pipefail", str(file)]
    res = run_program(argv, block_env(server, home), f"the block at {chain.where}")
    assert res.returncode == 0, (
        f"the documented block at {chain.where} failed with exit status {res.returncode} "
        f"(blocks: {', '.join(b.where for b in chain.blocks)})\n"
        f"--- script\n{script}\n--- stdout (tail)\n{tail(res.stdout)}\n--- stderr (tail)\n{tail(res.stderr)}"
    )


# --------------------------------------------------------------------------- excerpts and configuration


EXCERPTS = [b for b in ALL_BLOCKS if b.excerpt_of is not None]


@pytest.mark.parametrize("block", EXCERPTS, ids=[b.where for b in EXCERPTS])
def test_excerpt_matches_its_example(block: Block):
    """An excerpt is a contiguous run of lines of its file, up to a common indentation."""
    target = REPO_ROOT / block.excerpt_of
    assert target.is_file(), f"{block.where}: excerpt= names {block.excerpt_of}, which does not exist"
    want = textwrap.dedent(block.text).rstrip("\n").splitlines()
    have = target.read_text().splitlines()
    for start in range(len(have) - len(want) + 1):
        window = "\n".join(have[start : start + len(want)])
        if textwrap.dedent(window).splitlines() == want:
            return
    first = want[0] if want else ""
    near = [n + 1 for n, line in enumerate(have) if line.strip() == first.strip()]
    pytest.fail(
        f"{block.where}: the excerpt is not (or no longer) in {block.excerpt_of}; update the doc from the file "
        f"(its first line {first!r} is at line(s) {near or 'nowhere'} of the file)",
        pytrace=False,
    )


CONFIG_BLOCKS = [b for b in ALL_BLOCKS if b.lang == "toml" and "check-config" in b.words]


def check_config(args: List[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYZONE_")}
    return subprocess.run([str(keyzone_bin()), "check-config", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("block", CONFIG_BLOCKS, ids=[b.where for b in CONFIG_BLOCKS])
def test_config_block_is_valid(block: Block, tmp_path):
    file = tmp_path / "keyzone.toml"
    file.write_text(block.text)
    res = check_config(["--config", str(file)], tmp_path)
    assert res.returncode == 0, f"{block.where}: keyzone check-config refused the documented file:\n{res.stderr}{res.stdout}"


def test_configuration_reference_lists_every_setting(tmp_path):
    """Every setting `keyzone check-config` prints (set or unset) is in the configuration reference's table."""
    res = check_config([], tmp_path)
    assert res.returncode == 0, f"keyzone check-config failed: {res.stderr}"
    keys = set(re.findall(r"^([a-z_]+) = ", res.stdout, re.M)) | set(re.findall(r"^# ([a-z_]+) unset", res.stdout, re.M))
    assert len(keys) >= 10, f"expected check-config to print the settings, got:\n{res.stdout}"
    reference = (REPO_ROOT / "docs" / "configuration.md").read_text()
    missing = sorted(k for k in keys if f"`{k}`" not in reference)
    assert not missing, f"settings printed by `keyzone check-config` but not in docs/configuration.md: {missing}"


# --------------------------------------------------------------------------- pins


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.split("[", 1)[0]).lower()


def pins(text: str) -> List[Tuple[str, str]]:
    return [(normalize(n), v) for n, v in re.findall(r"([A-Za-z0-9][A-Za-z0-9_.\-\[\]]*)==([0-9][^\s`'\"),]*)", text)]


def test_pip_pins_match_the_suite():
    """What the docs tell readers to install is what the suite tests."""
    tested = dict(pins(SUITE_REQUIREMENTS.read_text()))
    problems: List[str] = []
    sources = [(p, line) for p in DOC_FILES for line in p.read_text().splitlines() if "pip install" in line]
    sources += [(EXAMPLE_REQUIREMENTS, line) for line in EXAMPLE_REQUIREMENTS.read_text().splitlines() if not line.startswith("#")]
    found = 0
    for path, line in sources:
        for name, version in pins(line):
            found += 1
            if tested.get(name) != version:
                problems.append(f"{path.relative_to(REPO_ROOT)}: {name}=={version}, but tests/sdk/requirements.txt has {tested.get(name, 'no pin')}")
    assert found >= 6, f"expected pinned pip installs in the docs and examples/requirements.txt, found {found}"
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- links


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*]|<[^>]+>", "", heading.strip()).lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set:
    seen: Dict[str, int] = {}
    out = set()
    in_fence = False
    for line in path.read_text().splitlines():
        if FENCE_RE.match(line):
            in_fence = not in_fence
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m and not in_fence:
            s = slug(m.group(1))
            n = seen.get(s, 0)
            out.add(s if n == 0 else f"{s}-{n}")
            seen[s] = n + 1
    return out


def test_relative_links_resolve():
    problems: List[str] = []
    for path in DOC_FILES:
        text = re.sub(r"(?ms)^\s*(```|~~~).*?^\s*\1", "", path.read_text())  # not inside code blocks
        text = re.sub(r"`[^`\n]*`", "", text)  # nor in inline code
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # http:, https:, mailto:
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists():
                problems.append(f"{path.relative_to(REPO_ROOT)}: link to {target}: no such file")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                problems.append(f"{path.relative_to(REPO_ROOT)}: link to {target}: no heading #{anchor} in {dest.relative_to(REPO_ROOT)}")
    assert not problems, "broken links:\n" + "\n".join(problems)
