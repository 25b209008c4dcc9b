"""The app floor: the desktop lab (PySide6 + pyqtgraph). Only this floor imports Qt.

Pieces
    ``main.run_app(self_test=False, data_dir=None)``  the QApplication and the main window (``cnnlab gui``)
    ``main_window.MainWindow``       docks, toolbar, menus, status bar, settings, the run's commands
    ``state.AppState``               the Qt-side model every view receives in its constructor
    ``worker.TrainingController``    one QThread per run around ``TrainingSession.run()``; records runs
    ``data_manager.DataManager``     finds, loads and downloads datasets off the GUI thread
    ``panels.PanelSpec``, ``panels.default_panels()``   the dock panels the window builds at start-up
    ``actions``                      every command as a QAction (menus, toolbar, buttons, Help table)
    ``theme``                        light and dark palettes, the style sheet, pyqtgraph styling
    ``runtime.tune_for_gui()``       BLAS threads, garbage collection and switch interval for fluidity
    ``tasks.BackgroundTask``         a function run in a thread, heard from in the GUI thread
    ``selftest``                     ``cnnlab gui --self-test``
    ``bench_gui``                    ``python -m cnnlab.app.bench_gui``: event-loop stalls while training

Adding a view as a dock panel
    A view is a QWidget whose constructor takes the ``AppState`` (``MyView(state)``). It listens to
    ``state.snapshotChanged`` (a ``Snapshot``, or None after a reset), ``state.inspectorChanged`` (the
    GUI thread's copy of the network), ``state.datasetChanged`` and ``state.themeChanged``, and reads
    ``state.snapshot``, ``state.inspector()``, ``state.dataset``, ``state.class_names``, ``state.theme``.
    It never touches the live training network. To have the window build it at start-up (so its place
    is remembered), add ``PanelSpec(key, title, factory, area, tabify_with=...)`` to
    ``panels.default_panels()``; at run time ``window.add_panel(key, title, widget, area)`` docks any
    widget. View > Panels lists every panel. A panel whose tab is behind another is hidden (its
    ``isVisible()`` is False), so throttled views skip redraws nobody would see.
"""
