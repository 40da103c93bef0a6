"""detreg.assigners: label assignment (ATSS, TAL) from padded ground truth to anchors."""
