"""Datasets in their native layouts into one manifest table: the readers (``readers``,
``veri776`` for VeRi-776 and the synthetic set), the manifest's columns and checks
(``_manifest``), list-file helpers (``_text``) and the validation split held out of the train
identities (``holdout``)."""
