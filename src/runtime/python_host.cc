#define PY_SSIZE_T_CLEAN
#include "runtime/python_host.h"

#include <Python.h>

#include "runtime/bootstrap_py.h"  // generated: kBootstrapSource

namespace kiln::runtime {
namespace {

// The pending Python exception as text (consumes it).
std::string FetchError(const char* what) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  std::string msg = std::string(what) + ": ";
  if (value != nullptr) {
    if (PyObject* s = PyObject_Str(value)) {
      if (const char* c = PyUnicode_AsUTF8(s)) msg += c;
      Py_DECREF(s);
    }
  }
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  PyErr_Clear();
  return msg;
}

Status ConfigStatus(PyStatus st, const char* what) {
  if (PyStatus_Exception(st)) {
    return Internal(std::string(what) + ": " + (st.err_msg ? st.err_msg : "failed"));
  }
  return OkStatus();
}

// Calls a function of the runtime module that takes one string (or none) and
// returns one.
Result<std::string> CallText(PyObject* module, const char* name, const std::string* arg) {
  PyObject* r = arg ? PyObject_CallMethod(module, name, "s#", arg->data(), static_cast<Py_ssize_t>(arg->size()))
                    : PyObject_CallMethod(module, name, nullptr);
  if (r == nullptr) return Internal(FetchError(name));
  const char* s = PyUnicode_AsUTF8(r);
  std::string out = s ? s : "";
  Py_DECREF(r);
  if (s == nullptr) return Internal(FetchError(name));
  return out;
}

}  // namespace

Result<std::unique_ptr<PythonHost>> PythonHost::Create() {
  PyConfig config;
  PyConfig_InitIsolatedConfig(&config);
  config.site_import = 0;      // sys.path is the bundle, the layers, the stdlib: nothing else
  config.buffered_stdio = 0;   // every print reaches the run's log, even before a crash
  config.install_signal_handlers = 1;
  config.parse_argv = 0;
  Status st = ConfigStatus(PyConfig_SetBytesString(&config, &config.home, KILN_PYTHON_HOME), "home");
  if (st.ok()) st = ConfigStatus(Py_InitializeFromConfig(&config), "Py_InitializeFromConfig");
  PyConfig_Clear(&config);
  KILN_RETURN_IF_ERROR(st);

  PyObject* code = Py_CompileString(kBootstrapSource, "<kiln-runtime>", Py_file_input);
  if (code == nullptr) return Internal(FetchError("compile runtime module"));
  PyObject* module = PyImport_ExecCodeModule("_kiln_runtime", code);
  Py_DECREF(code);
  if (module == nullptr) return Internal(FetchError("load runtime module"));
  std::unique_ptr<PythonHost> host(new PythonHost());
  host->module_ = module;
  return host;
}

PythonHost::~PythonHost() { Py_XDECREF(static_cast<PyObject*>(module_)); }

Result<std::string> PythonHost::Init(const std::string& config_json) {
  return CallText(static_cast<PyObject*>(module_), "init", &config_json);
}

Result<std::string> PythonHost::Preload(const std::string& config_json) {
  return CallText(static_cast<PyObject*>(module_), "preload", &config_json);
}

Result<std::string> PythonHost::CheckSnapshot() {
  return CallText(static_cast<PyObject*>(module_), "check_snapshot", nullptr);
}

Result<std::string> PythonHost::Restore() { return CallText(static_cast<PyObject*>(module_), "restore", nullptr); }

void PythonHost::BeforeFork() { PyOS_BeforeFork(); }
void PythonHost::AfterForkInParent() { PyOS_AfterFork_Parent(); }
void PythonHost::AfterForkInChild() { PyOS_AfterFork_Child(); }

Result<std::pair<std::string, std::string>> PythonHost::Invoke(const std::string& header_json,
                                                               const std::string& event) {
  PyObject* r = PyObject_CallMethod(static_cast<PyObject*>(module_), "invoke", "s#y#",
                                    header_json.data(), static_cast<Py_ssize_t>(header_json.size()),
                                    event.data(), static_cast<Py_ssize_t>(event.size()));
  if (r == nullptr) {
    // A BaseException (SystemExit, KeyboardInterrupt) escaped the handler: let Python
    // report it and end the process the way it asks; the daemon records `crashed`.
    PyErr_Print();
    return Internal("handler raised a BaseException");
  }
  const char* header = nullptr;
  Py_ssize_t header_len = 0;
  char* body = nullptr;
  Py_ssize_t body_len = 0;
  std::pair<std::string, std::string> out;
  if (!PyArg_ParseTuple(r, "s#y#", &header, &header_len, &body, &body_len)) {
    Py_DECREF(r);
    return Internal(FetchError("runtime invoke result"));
  }
  out.first.assign(header, static_cast<size_t>(header_len));
  out.second.assign(body, static_cast<size_t>(body_len));
  Py_DECREF(r);
  return out;
}

PythonHost::ReleaseGil::ReleaseGil() : state_(PyEval_SaveThread()) {}
PythonHost::ReleaseGil::~ReleaseGil() { PyEval_RestoreThread(static_cast<PyThreadState*>(state_)); }

}  // namespace kiln::runtime
