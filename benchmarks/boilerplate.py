"""Boilerplate removal on hand-marked crawled pages: what it keeps of the site's template and drops of the page.

Run: python benchmarks/boilerplate.py [--crawl ../shared/dmoz/policies] [--labels data/policy_pages/boilerplate.csv]
"""

from __future__ import annotations

import argparse

from classifier.evaluation.boilerplate import load_boilerplate_labels, score_boilerplate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crawl", default="../shared/dmoz/policies")
    parser.add_argument("--labels", default=None)
    args = parser.parse_args()
    s = score_boilerplate(load_boilerplate_labels(args.labels), args.crawl)
    print(f"{s['pages']} hand-marked pages: {s['boilerplate']:,} characters of boilerplate lines, "
          f"{s['content']:,} of page content")
    print(f"boilerplate kept: {s['boilerplate_kept_share']:.1%} ({s['boilerplate_kept']:,} characters; 100% without "
          "removal)")
    print(f"content dropped: {s['content_dropped_share']:.1%} ({s['content_dropped']:,} characters)")
    print(f"paragraphs mostly boilerplate: {s['before_boilerplate']} of {s['before']} without removal, "
          f"{s['after_boilerplate']} of {s['after']} with it")


if __name__ == "__main__":
    main()
