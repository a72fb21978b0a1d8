"""Reading policies (text, Markdown, HTML, PDF) and splitting them into paragraphs with offsets."""
