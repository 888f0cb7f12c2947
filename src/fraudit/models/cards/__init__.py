"""The card model family: trained on card transactions with their history features
(docs/FEATURES.md), beside the ULB family. Work in progress (issue 19)."""
