"""Near-duplicate clustering: recall and precision on injected near-duplicates, time and index size.

Base texts: the 4,200 human-rated tweets in benchmarks/data/, keeping those of 8 words or more (shorter ones
never cluster on text, by design) that have no near-duplicate among the others. For a random 40% of them,
1-3 variants are injected, each made by one of the edits copies go through on the way round the internet:

    exact copy · "RT @someone:" prefix · " via @site https://t.co/..." suffix · hashtags appended ·
    one word replaced · one word dropped · lower-cased and punctuation stripped · truncated to 80% + "…" ·
    a word replaced *and* hashtags appended

A variant that falls under 8 words is not injected (counted as skipped). Every mention gets its own URL, so
only the text can cluster them. The order is shuffled: a copy may come before its original. Recall: injected
variants that end up in their original's cluster. Precision: of all mentions folded into a cluster, those
folded into the right one (a base tweet folded into another base tweet is a false positive).

Boilerplate: 1,000 of those distinct tweets under one e-mail signature, under one cookie banner, and
filled into one share button's template (five of their words each): every merge there is a false one.

Then a scale run: 50,000 distinct synthetic posts (words drawn from the tweets' vocabulary) for time per
mention and index bytes per mention (the flat table, the root array and the list of references); and a
worst case, 20,000 templated posts that differ only in their figures.

    python benchmarks/dedupe.py

Times are wall-clock and CPU time of this process: on a machine shared with other work, the CPU time is
the fairer figure (the wall clock also counts the time other processes held the cores).

Writes benchmarks/results/dedupe.json.
"""

from __future__ import annotations

import json
import platform
import random
import re
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mentionwatch.dedupe import MIN_TOKENS, DuplicateIndex, dedupe, text_tokens
from mentionwatch.models import Mention

HERE = Path(__file__).parent
TWEETS = HERE / "data" / "vader_tweets_GroundTruth.txt"
RESULTS = HERE / "results" / "dedupe.json"
START = datetime(2026, 11, 1, tzinfo=UTC)
EDITS = ("exact", "rt", "via", "hashtags", "replace", "drop", "flatten", "truncate", "replace+hashtags")


def tweets() -> list[str]:
    out = []
    for line in TWEETS.read_text(encoding="utf-8").splitlines():
        parts = line.rstrip("\r").split("\t", 2)
        if len(parts) == 3:
            out.append(parts[2])
    return out


def distinct(texts: list[str]) -> list[str]:
    """Texts with no near-duplicate among the others, by an exact pairwise check (word-set Jaccard >= 0.5):
    the data set includes 200 contrived variants of a few tweets ("UGH!!! I HATE HATE HATE ..."), which are
    near-duplicates of each other and would count as false merges if left in the base."""
    kept: list[tuple[str, set[str]]] = []
    for text in texts:
        words = set(text_tokens(mention(0, text)))
        if all(len(words & other) / len(words | other) < 0.5 for _, other in kept):
            kept.append((text, words))
    return [t for t, _ in kept]


def variant(text: str, edit: str, rng: random.Random, vocabulary: list[str]) -> str:
    words = text.split()
    if edit == "exact":
        return text
    if edit == "rt":
        return f"RT @user{rng.randrange(1000)}: {text}"
    if edit == "via":
        return f"{text} via @site{rng.randrange(100)} https://t.co/{rng.randrange(10**8):x}"
    if edit == "hashtags":
        return f"{text} #{rng.choice(vocabulary)} #{rng.choice(vocabulary)}"
    if edit == "replace":
        words[rng.randrange(len(words))] = rng.choice(vocabulary)
        return " ".join(words)
    if edit == "drop":
        del words[rng.randrange(len(words))]
        return " ".join(words)
    if edit == "flatten":
        return re.sub(r"[^\w\s]", "", text).lower()
    if edit == "truncate":
        return " ".join(words[: max(1, int(len(words) * 0.8))]) + "…"
    return variant(variant(text, "replace", rng, vocabulary), "hashtags", rng, vocabulary)


def mention(i: int, text: str) -> Mention:
    return Mention(
        source="bench",
        id=str(i),
        url=f"https://example.com/post/{i}",
        published_at=START + timedelta(seconds=i),
        text=text,
        brand="Acme",
    )


def quality(seed: int = 7) -> dict[str, object]:
    rng = random.Random(seed)
    texts = tweets()
    vocabulary = sorted({w for t in texts for w in re.findall(r"[a-z]{3,}", t.lower())})
    base = distinct([t for t in texts if len(text_tokens(mention(0, t))) >= MIN_TOKENS])
    family: list[int] = []  # which base text each mention comes from
    edits: list[str] = []
    corpus: list[str] = []
    for b, text in enumerate(base):
        corpus.append(text)
        family.append(b)
        edits.append("original")
    injected = skipped_short = 0
    for b, text in enumerate(base):
        if rng.random() < 0.4:
            for _ in range(rng.randint(1, 3)):
                edit = rng.choice(EDITS)
                copy = variant(text, edit, rng, vocabulary)
                if len(text_tokens(mention(0, copy))) < MIN_TOKENS:
                    skipped_short += 1  # below the short-text floor: by design never clustered on text
                    continue
                corpus.append(copy)
                family.append(b)
                edits.append(edit)
                injected += 1
    order = list(range(len(corpus)))
    rng.shuffle(order)  # variants are not always later than their original
    mentions = [mention(pos, corpus[i]) for pos, i in enumerate(order)]
    fam = {m.id: family[i] for m, i in zip(mentions, order, strict=True)}
    edit_of = {m.id: edits[i] for m, i in zip(mentions, order, strict=True)}

    kept = dedupe(mentions)
    cluster_of: dict[str, str] = {}
    for m in kept:
        cluster_of[m.id] = m.id
        for other in m.also_seen:
            cluster_of[other["id"]] = m.id
    # A family is recalled when all its members share one cluster; count per injected variant.
    by_family: dict[int, list[str]] = {}
    for m in mentions:
        by_family.setdefault(fam[m.id], []).append(m.id)
    recalled = 0
    per_edit: dict[str, list[int]] = {e: [0, 0] for e in EDITS}
    for ids in by_family.values():
        if len(ids) < 2:
            continue
        clusters = [cluster_of[i] for i in ids]
        main = max(sorted(set(clusters)), key=clusters.count)  # sorted: ties broken the same way every run
        original = next(j for j in ids if edit_of[j] == "original")
        for i in ids:
            if i == original:
                continue
            ok = cluster_of[i] == main and cluster_of[original] == main
            recalled += ok
            per_edit[edit_of[i]][0] += ok
            per_edit[edit_of[i]][1] += 1
    folded = [(i, root) for i, root in cluster_of.items() if i != root]
    right = sum(fam[i] == fam[root] for i, root in folded)
    return {
        "tweets": len(texts),
        "base_texts": len(base),
        "injected": injected,
        "variants_skipped_as_short": skipped_short,
        "mentions": len(mentions),
        "recall": round(recalled / injected, 4),
        "precision": round(right / len(folded), 4) if folded else 1.0,
        "false_merges": len(folded) - right,
        "recall_by_edit": {e: round(ok / n, 3) if n else None for e, (ok, n) in per_edit.items()},
    }


# Boilerplate around each of 1,000 distinct tweets (test input): none of the posts may merge (issue #12).
SIGNATURE = (
    "-- Jane Doe | Head of Platform Engineering | Acme Rockets Inc. 1 Canyon Road, Monument Valley, AZ. "
    "This message and any attachments are confidential and intended solely for the addressee. If you have "
    "received it in error, please notify the sender and delete it."
)
COOKIES = (
    "We use cookies and similar technologies to recognise your repeat visits and preferences, to measure the "
    "effectiveness of campaigns and to improve our websites. By clicking Accept all you consent to this."
)
BOILERPLATE = {
    "signature": lambda text: f"{text}\n{SIGNATURE}",
    "cookie banner": lambda text: f"{COOKIES}\n{text}",
    "share template": lambda text: (
        f"I just read '{' '.join(text.split()[:5])}' on the Acme blog via the Acme "
        "app for iPhone and Android. Check it out and tell me what you think!"
    ),
}


def boilerplate(n: int = 1000, seed: int = 5) -> dict[str, object]:
    """Distinct posts under shared boilerplate (a signature, a cookie banner, a share button's template):
    every merge is a false one."""
    rng = random.Random(seed)
    base = distinct([t for t in tweets() if len(text_tokens(mention(0, t))) >= MIN_TOKENS])
    picked = rng.sample(base, n)
    out: dict[str, object] = {"posts": n}
    for name, wrap in BOILERPLATE.items():
        mentions = [mention(i, wrap(text)) for i, text in enumerate(picked)]
        out[f"false_merges ({name})"] = n - len(dedupe(mentions))
    return out


def scale(n: int = 50_000, seed: int = 11) -> dict[str, object]:
    rng = random.Random(seed)
    vocabulary = sorted({w for t in tweets() for w in re.findall(r"[a-z]{2,}", t.lower())})
    mentions = [mention(i, " ".join(rng.choices(vocabulary, k=rng.randint(8, 40)))) for i in range(n)]
    started, cpu = time.perf_counter(), time.process_time()
    kept = dedupe(mentions)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    false_merges = n - len(kept)  # every post is distinct
    for m in mentions:
        m.also_seen.clear()
        m.duplicates = 0
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    index = DuplicateIndex()
    for m in mentions:
        index.add(m)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    traced = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return {
        "mentions": n,
        "false_merges": false_merges,
        "microseconds_per_mention": round(seconds / n * 1e6, 1),
        "cpu_microseconds_per_mention": round(cpu / n * 1e6, 1),
        "index_bytes_per_mention": round(index.nbytes / n, 1),
        "traced_bytes_per_mention": round(traced / n, 1),
    }


def templated(n: int = 20_000) -> dict[str, object]:
    """The worst case for candidate look-ups: every post shares its words with every other, and differs
    only in its figures (so none may merge). Without the per-key cap this is quadratic."""
    mentions = [
        mention(i, f"Acme insider sells {i * 37:,} shares of stock in a transaction on day {i % 28 + 1} of month {i}")
        for i in range(n)
    ]
    started, cpu = time.perf_counter(), time.process_time()
    kept = dedupe(mentions)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "mentions": n,
        "false_merges": n - len(kept),
        "microseconds_per_mention": round(seconds / n * 1e6, 1),
        "cpu_microseconds_per_mention": round(cpu / n * 1e6, 1),
    }


def main() -> None:
    found = {"quality": quality(), "boilerplate": boilerplate(), "scale": scale(), "templated": templated()}
    print(json.dumps(found, indent=2))
    report = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        **found,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
