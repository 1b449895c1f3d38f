"""The parts of the HTML reports (`llmvigil.reports` writes them): escaping and the page shell (html),
SVG trend charts (charts), what the pages show read from the store (data), and the pages (pages).

(Not named `reports/`: the repository's .gitignore ignores every `reports/` folder, the generated one.)
"""
