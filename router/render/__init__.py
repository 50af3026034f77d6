"""Rules and templates: the rule model and its index, and rendering an action in Jinja2's sandbox.

``rulebook`` holds the rule model (scopes, the index by trigger, product, checkout and Plug&Pay rule id,
and matching). ``templates`` compiles and renders in the immutable sandbox with its filters, bounded by
``limits``; ``template_files`` serves ``*_file:`` templates from the config's folder, ``template_errors``
words what went wrong, ``native_values`` keeps typed values typed, ``url_path`` makes a value one path
segment, and ``secret_refs`` keeps secrets out of stored requests until the moment of sending. Nothing here
does I/O beyond reading template files; the config, routing and the tools all build on it.
"""
