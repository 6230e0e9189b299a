"""Scoring and filter steps, in two kinds of module.

Pure scoring (`normalize`, `wer`, `answers`, `answer_parsing`, `answer_sandbox`, `qa_pairs`, `text_stats`,
`audio_quality`'s measures, `dedup`'s index) imports nothing from `datagen`: generators, `datagen.speech` and
`datagen.calibrate` use it as a library. Filter steps (`wer_gate`, `text_sanity`, `hallucination`, `audio_quality`,
`image_check`, `dedup`) import only the kernel (`datagen.records`, `datagen.steps`): each writes its scores to
meta and gates on them, so `datagen filter` can re-run it with other thresholds without model time.
"""
