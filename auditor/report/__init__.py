"""Report formats: one small module per format behind `auditor.report.interface`, written by `writer`."""
