"""Running cells: the one run loop (:mod:`.runner`), its clock (:mod:`.clock`), per-cell
checkpoints (:mod:`.checkpoint`), killable cell processes (:mod:`.isolation`), Dask
(:mod:`.cluster`), the progress bar (:mod:`.progress`) and experiment hooks (:mod:`.hooks`)."""
