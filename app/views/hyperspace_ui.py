import panel as pn
def hyperspace_layout(view):
    return pn.pane.Markdown("TODO")
