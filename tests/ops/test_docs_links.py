"""Relative links in the operator docs and the README point at files and headings that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKED = [
    "README.md",
    "docs/quickstart.md",
    "docs/configuration.md",
    "docs/httpbin.md",
    "docs/deployment.md",
    "docs/operations.md",
    "docs/registering-with-a-gateway.md",
    "docs/troubleshooting.md",
    "docs/webhooks.md",
    "docs/tls.md",
]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, each space a hyphen."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for line in text.splitlines():
        m = re.match(r"^#{1,6}\s+(.*)$", line)
        if m:
            base = slug(m.group(1))
            anchor, n = base, 1
            while anchor in found:  # GitHub numbers repeated headings
                anchor, n = f"{base}-{n}", n + 1
            found.add(anchor)
    return found


def links(path: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("name", CHECKED)
def test_relative_links_resolve(name: str) -> None:
    source = ROOT / name
    broken = []
    for target in links(source):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, fragment = target.partition("#")
        dest = (source.parent / file_part).resolve() if file_part else source
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{target}: no heading #{fragment} in {dest.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Several replicas behind a load balancer", "several-replicas-behind-a-load-balancer"),
        ("`/v1/whoami`", "v1whoami"),
        ("401 on every `/v1/*` call, even with a key", "401-on-every-v1-call-even-with-a-key"),
        ("The key is `${APITEST_DEV_KEY}`", "the-key-is-apitest_dev_key"),
    ],
)
def test_slug(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_mkdocs_nav_lists_existing_pages() -> None:
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages = [next(iter(entry.values())) for entry in config["nav"]]
    assert len(pages) == len(set(pages))
    missing = [p for p in pages if not (ROOT / config["docs_dir"] / p).is_file()]
    assert not missing, missing
    for name in CHECKED[1:]:
        assert name.removeprefix("docs/") in pages
