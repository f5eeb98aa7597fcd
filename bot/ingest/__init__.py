"""Ingest: article files -> domain objects.

``urls`` (canonical urls), ``yamlload`` (YAML with PyYAML semantics and a yaml_rs fast path),
``parser`` (pure: bytes -> ParsedArticle) and ``loader`` (paths -> FileResults; the only module
here that touches the file system).
"""
