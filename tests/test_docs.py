"""Every code block of README.md and docs/*.md runs (tests/docs_blocks.py says how), so that a
stale flag, a renamed key or an undefined name fails here instead of in a newcomer's terminal."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO
from tests.docs_blocks import LANGUAGES, PAGES, SYBIL, in_scratch_folder


def fenced_languages(text: str) -> list[str]:
    """The language of every fenced block, in order (an opening fence's word; "" for none)."""
    fences = re.findall(r"^[ \t]*```(\S*)", text, re.M)
    return fences[::2]


@pytest.mark.trains
@pytest.mark.long  # the README's page trains every MNIST config: about a minute
@pytest.mark.scratch_folder  # the code it reaches is mutation-tested through the other tests
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_code_block_of_the_page_runs(page, tmp_path):
    document = SYBIL.parse(page)
    examples = list(document)
    assert len(examples) == len(fenced_languages(page.read_text())), "a block the parsers did not see"
    with in_scratch_folder(tmp_path):
        for example in examples:
            try:
                example.evaluate()
            except Exception as error:
                raise AssertionError(f"{page.relative_to(REPO)}:{example.line}: {error}") from error


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_code_block_is_fenced_in_a_language_the_tests_run(page):
    text = page.read_text()
    assert set(fenced_languages(text)) <= LANGUAGES, fenced_languages(text)
    outside = re.sub(r"^[ \t]*```.*?^[ \t]*```", "", text, flags=re.M | re.S)
    indented = re.findall(r"\n\n(    \S.*)", outside)
    assert not indented, f"an indented code block, which no test runs: {indented[0]!r}"
