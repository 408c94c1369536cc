"""The policy knowledge base: documents, versions, the Chroma index and cited retrieval."""
