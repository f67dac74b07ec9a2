"""Brand matching speed at 10, 100 and 1,000 terms, and agreement with a naive whole-word regex.

Posts: the 4,200 tweets in benchmarks/data/ plus the Hacker News comments and stories of the test fixture
(real text, 20-600 characters). Two sets of terms:

- "vocabulary": terms drawn from the posts' own words (the worst case: most posts contain several terms,
  so every post pays for boundary checks and bookkeeping);
- "brand-like": invented product names, of which 1% of the posts get one spliced in (the usual case:
  most posts mention none of the brand's words).

Time is `BrandMatcher(brand).match(title, text)` per post, normalisation included, best of three. The
baseline is the same job done the way the issue says not to: one `re.search` per term (on 500 posts).

Agreement: for every post, the set of terms the matcher reports must equal the set for which
`re.search(r"(?<!\\w)" + re.escape(normalize(term)) + r"(?!\\w)", normalize(text))` finds something.

    python benchmarks/matching.py

Writes benchmarks/results/matching.json.
"""

from __future__ import annotations

import json
import math
import platform
import random
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from mentionwatch.config import BrandConfig
from mentionwatch.matching import BrandMatcher, normalize

HERE = Path(__file__).parent
ROOT = HERE.parent
TWEETS = HERE / "data" / "vader_tweets_GroundTruth.txt"
HN = ROOT / "tests" / "fixtures" / "jsonl" / "hackernews-nodejs.jsonl"
RESULTS = HERE / "results" / "matching.json"


def posts() -> list[tuple[str, str]]:
    out = []
    for line in TWEETS.read_text(encoding="utf-8").splitlines():
        parts = line.rstrip("\r").split("\t", 2)
        if len(parts) == 3:
            out.append(("", parts[2]))
    for line in HN.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        out.append((item.get("title") or "", item.get("text") or ""))
    return out


def best_of_three(run: Callable[[], object], count: int) -> float:
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best / count * 1e6


def naive_terms(terms: list[str], title: str, text: str) -> set[str]:
    hay = "\n".join(normalize(p) for p in (title, text) if p)
    return {t for t in terms if re.search(rf"(?<!\w){re.escape(normalize(t))}(?!\w)", hay)}


def measure(name: str, terms: list[str], items: list[tuple[str, str]]) -> dict[str, object]:
    matcher = BrandMatcher(BrandConfig(name="Bench", terms=terms))
    per_post = best_of_three(lambda: [matcher.match(t, x) for t, x in items], len(items))
    patterns = [re.compile(rf"(?<!\w){re.escape(normalize(t))}(?!\w)") for t in terms]
    sample = items[:500]
    baseline = best_of_three(lambda: loop_of_searches(sample, patterns), len(sample))
    disagreements = 0
    matched = 0
    for title, text in items:
        found = matcher.match(title, text)
        got = set(found.terms) if found else set()
        matched += bool(found)
        disagreements += got != naive_terms(terms, title, text)
    return {
        "terms": len(terms),
        "set": name,
        "posts": len(items),
        "posts_matched": matched,
        "microseconds_per_post": round(per_post, 2),
        "loop_of_re_search_microseconds_per_post": round(baseline, 1),
        "disagreements_with_naive_regex": disagreements,
    }


def loop_of_searches(items: list[tuple[str, str]], patterns: list[re.Pattern[str]]) -> None:
    for title, text in items:
        hay = "\n".join(normalize(p) for p in (title, text) if p)
        any(p.search(hay) for p in patterns)


def main() -> None:
    rng = random.Random(3)
    items = posts()
    vocabulary = sorted({w for _, t in items for w in re.findall(r"[A-Za-z][\w'.-]{2,}", t)})
    syllables = ["ac", "me", "zo", "ri", "tek", "lu", "va", "nix", "qu", "oro", "pex", "dyn"]
    rows = []
    for count in (10, 100, 1000):
        brandish = sorted({"".join(rng.choices(syllables, k=4)) for _ in range(count * 2)})[:count]
        spliced = [(title, f"{text} {rng.choice(brandish)}" if rng.random() < 0.01 else text) for title, text in items]
        rows.append(measure("brand-like", brandish, spliced))
        rows.append(measure("vocabulary", rng.sample(vocabulary, count), items))
    print(f"{'set':<11} {'terms':>6} {'posts':>6} {'matched':>8} {'µs/post':>8} {'re.search loop':>15} {'disagree':>9}")
    for r in rows:
        print(
            f"{r['set']:<11} {r['terms']:>6} {r['posts']:>6} {r['posts_matched']:>8} "
            f"{r['microseconds_per_post']:>8} {r['loop_of_re_search_microseconds_per_post']:>15} "
            f"{r['disagreements_with_naive_regex']:>9}"
        )
    report = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
