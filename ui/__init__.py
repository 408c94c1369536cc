"""The Gradio doors: customer chat, staff console (auth, knowledge, dashboard), web server."""
