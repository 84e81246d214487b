"""One module per DVC stage of ``dvc.yaml``, each run as ``python -m vreid.stages.<name>``:
``synthesize`` (also the ``pool`` stage), ``prepare``, ``tracklets``, ``pretrain``,
``viewpoint``, ``recognize``, ``cluster``, ``evaluate``; ``_common`` holds what they share
(paths, params, logging, the image source, the model, scoring)."""
