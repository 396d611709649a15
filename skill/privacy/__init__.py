"""Privacy as code: pseudonyms, envelope encryption, log redaction, erasure, access, retention."""
