/* `await request` without a Python frame: the am_send slot (PEP 590's
 * PyIter_Send, Python 3.10+) of the request types. CPython's SEND opcode calls
 * it directly, so an awaited request returns its response as PYGEN_RETURN,
 * with no StopIteration raised. lt_req_step is the Cython side (Request._step):
 * it returns the value and says whether it is the final one; NULL on error. */
#ifndef LOADTNT_AIO_H
#define LOADTNT_AIO_H

#include <Python.h>
#include <string.h>
#include <stdint.h>

typedef PyObject *(*lt_step_fn)(PyObject *self, int *is_return);
static lt_step_fn lt_req_step = NULL;

static PySendResult lt_am_send(PyObject *self, PyObject *arg, PyObject **presult) {
    int is_return = 0;
    PyObject *r;
    (void)arg;  /* a request is only ever sent None (the Task's wakeup) */
    r = lt_req_step(self, &is_return);
    if (r == NULL) {
        *presult = NULL;
        return PYGEN_ERROR;
    }
    *presult = r;
    return is_return ? PYGEN_RETURN : PYGEN_NEXT;
}

/* Install on a type whose tp_as_async Cython made (it defines __await__). */
static int lt_install_am_send(PyTypeObject *t, lt_step_fn step) {
    lt_req_step = step;
    if (t->tp_as_async == NULL) {
        PyErr_SetString(PyExc_SystemError, "request type has no tp_as_async");
        return -1;
    }
    t->tp_as_async->am_send = lt_am_send;
    return 0;
}

/* Whether fn is an asyncio Task's own wakeup (the C Task's builtin
 * "task_wakeup", bound to the task: CPython 3.11+; 3.10's is a wrapper type of
 * its own, and a pure-Python Task's a bound method, both left to the generic
 * path). It only looks at whether the future it is given raises: a request
 * whose reply is in can wake its task with an already-resolved Future, which
 * the C Task reads directly, instead of with itself, whose result() it would
 * look up and call by name. */
static PyMethodDef *lt_wakeup_def = NULL;
static PyTypeObject *lt_task_type = NULL;

static inline int lt_is_task_wakeup(PyObject *fn) {
    PyCFunctionObject *f;
    if (!PyCFunction_Check(fn))
        return 0;
    f = (PyCFunctionObject *)fn;
    if (f->m_self == NULL || lt_task_type == NULL || !PyObject_TypeCheck(f->m_self, lt_task_type))
        return 0;
    if (f->m_ml == lt_wakeup_def)
        return 1;
    if (lt_wakeup_def == NULL && f->m_ml != NULL && f->m_ml->ml_name != NULL
            && strcmp(f->m_ml->ml_name, "task_wakeup") == 0) {
        lt_wakeup_def = f->m_ml;
        return 1;
    }
    return 0;
}

static void lt_set_task_type(PyObject *t) {
    if (PyType_Check(t)) {
        Py_INCREF(t);
        lt_task_type = (PyTypeObject *)t;
    }
}

/* UTF-8 text that is all ASCII (names, keys, most values): one PyUnicode_New and a
 * copy, without the UTF-8 decoder's set-up (about half its instructions for a short
 * string). lt_is_ascii says whether it applies. */
static inline int lt_is_ascii(const char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    uint64_t w;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ULL)
            return 0;
    }
    for (; i < n; i++)
        if ((unsigned char)s[i] & 0x80)
            return 0;
    return 1;
}

static inline PyObject *lt_ascii_new(const char *s, Py_ssize_t n) {
    PyObject *u = PyUnicode_New(n, 127);
    if (u != NULL)
        memcpy(PyUnicode_1BYTE_DATA(u), s, (size_t)n);
    return u;
}

#endif
