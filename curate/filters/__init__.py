"""Document-level quality filters: the algorithms behind the filtering stages, free of Arrow and Ray
(each stage in ``curate/stages/`` wraps one of these modules)."""
