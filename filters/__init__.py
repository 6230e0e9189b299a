"""Sample filters: text normalization and word error rate for checking synthetic speech against its source text."""
