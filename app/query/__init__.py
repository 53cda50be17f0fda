"""Every query the API runs, as keyword-only functions over a session.

Results are JSON-ready dicts built straight from row tuples (no ORM objects); routes,
feeds and exports build no SQL of their own.
"""

from app.query.articles import counts_known, iter_articles, list_articles, ranking_covers
from app.query.catalogue import list_providers, list_topics, stats
from app.query.counts import catalogue_version, count_articles, facet_counts
from app.query.detail import article_detail, article_pk, related_articles
from app.query.filters import (
    FACETS,
    SORTS,
    ArticleFilters,
    article_id,
    summary_from_row,
    topic_key,
)

__all__ = [
    "FACETS",
    "SORTS",
    "ArticleFilters",
    "article_detail",
    "article_id",
    "article_pk",
    "catalogue_version",
    "count_articles",
    "counts_known",
    "facet_counts",
    "iter_articles",
    "list_articles",
    "list_providers",
    "list_topics",
    "ranking_covers",
    "related_articles",
    "stats",
    "summary_from_row",
    "topic_key",
]
