"""Generators: steps that make new fields (speech, answers, traces, pairs). One file each."""
