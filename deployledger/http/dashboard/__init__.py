"""The dashboard: server-rendered pages (Jinja2 templates and a stylesheet shipped in the
package), over the same tokens as the API. Uses the public API only."""
