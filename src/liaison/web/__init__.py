"""The console: static pages (HTML, JavaScript, CSS, fonts) under ``static/``, served by
the node. No Python code here; nothing imports it.
"""
