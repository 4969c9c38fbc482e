"""Programs people use to chat: the terminal client and the browser page.

Nothing here ships in a Lambda bundle (`chalice package` takes app.py and chalicelib/).
"""
