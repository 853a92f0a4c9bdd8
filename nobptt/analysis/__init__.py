"""Analysis of recorded runs (``nobptt analyze``): the collapse finder (``collapses``) and the SAB
validation curves (``curves``). They read schema-1 record files (docs/results.md) and run folders;
the tables themselves are ``nobptt results`` (nobptt.records.tables)."""
