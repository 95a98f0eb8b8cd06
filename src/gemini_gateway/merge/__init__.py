"""The canonical merge: the events of one stream added up to the one answer they make.

Pure functions, used wherever a stream must be read as a whole: the recorder (a streamed
exchange is stored as its merged answer), the AI Studio page backend (which receives a stream
and may answer unstreamed) and export.
"""
