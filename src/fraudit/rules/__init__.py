"""Rules a fraud team writes and changes at run time (docs/RULES.md): the fields they read
(`fields`), the published document (`document`), the CEL engine (`engine`), how fired rules
and the model make one decision (`outcome`), and where the API finds the document
(`source`)."""
