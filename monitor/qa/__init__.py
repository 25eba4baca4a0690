"""QA's side of excursions: the review workflow and its hash-chained log.

``ExcursionReview(source, ReviewLog(data_dir), signer, audit)``; excursions
come from the alarm engine's event log through an ``ExcursionSource``.
"""
