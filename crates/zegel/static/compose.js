// Zegel, the compose page (/berichten/nieuw). The form works without this file; with it:
// - only the fields a recipient's verification needs are shown;
// - "Ontvanger toevoegen" adds a row here instead of asking the server;
// - what the organisation remembers of an address (method, mobile number) is proposed;
// - the upload shows its progress and can be stopped (the server keeps nothing of a stopped
//   upload).
// No inline script, no external resources (CSP script-src 'self').
(function () {
  'use strict';

  function texts() {
    var t = document.getElementById('texts');
    return t ? t.dataset : {};
  }

  function showFor(fs) {
    var sel = fs.querySelector('select.method');
    if (!sel) {
      return;
    }
    fs.querySelectorAll('.for-sms').forEach(function (d) {
      d.hidden = sel.value !== 'sms';
    });
    fs.querySelectorAll('.for-code').forEach(function (d) {
      d.hidden = sel.value !== 'code';
    });
  }

  function remember(fs) {
    var email = fs.querySelector('input[type=email]');
    var sel = fs.querySelector('select.method');
    var phone = fs.querySelector('input[type=tel]');
    if (!email || !sel || email.value.indexOf('@') < 1) {
      return;
    }
    fetch('/berichten/nieuw/adres?email=' + encodeURIComponent(email.value.trim()), {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' }
    }).then(function (r) {
      return r.ok ? r.json() : {};
    }).then(function (j) {
      if (!j || !j.verification) {
        return;
      }
      if (!sel.dataset.touched) {
        sel.value = j.verification;
        showFor(fs);
      }
      if (phone && !phone.value && j.phone) {
        phone.value = j.phone;
      }
      var known = fs.querySelector('.known');
      if (!known) {
        known = document.createElement('p');
        known.className = 'help known';
        known.id = email.id + '-bekend';
        email.insertAdjacentElement('afterend', known);
      }
      var label = sel.querySelector('option[value="' + j.verification + '"]');
      known.textContent = (texts().known || '') + ' ' + (label ? label.textContent : j.verification) +
        (j.verification === 'sms' && j.masked_phone ? ', ' + j.masked_phone : '');
      var described = (email.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
      if (described.indexOf(known.id) < 0) {
        described.push(known.id);
        email.setAttribute('aria-describedby', described.join(' '));
      }
    }).catch(function () { /* a proposal only */ });
  }

  function wireRow(fs) {
    var sel = fs.querySelector('select.method');
    if (sel) {
      sel.addEventListener('change', function () {
        sel.dataset.touched = '1';
        showFor(fs);
      });
    }
    var email = fs.querySelector('input[type=email]');
    if (email) {
      email.addEventListener('change', function () {
        remember(fs);
      });
    }
    showFor(fs);
  }

  function renumber(el, from, to) {
    ['id', 'name', 'for', 'aria-describedby'].forEach(function (a) {
      var v = el.getAttribute(a);
      if (v) {
        el.setAttribute(a, v.split('_' + from).join('_' + to));
      }
    });
  }

  function addRow() {
    var box = document.getElementById('ontvangers');
    var rows = box.querySelectorAll('fieldset.recipient');
    var last = rows[rows.length - 1];
    var from = last.dataset.row;
    var to = String(rows.length);
    var fs = last.cloneNode(true);
    fs.dataset.row = to;
    fs.querySelectorAll('.error, .known').forEach(function (e) {
      e.remove();
    });
    fs.querySelectorAll('[id], [name], [for], [aria-describedby]').forEach(function (el) {
      renumber(el, from, to);
    });
    fs.querySelectorAll('input').forEach(function (i) {
      i.value = '';
      i.removeAttribute('aria-invalid');
      var d = (i.getAttribute('aria-describedby') || '').split(' ').filter(function (x) {
        return x && x.slice(-5) !== '-fout';
      });
      if (d.length) {
        i.setAttribute('aria-describedby', d.join(' '));
      } else {
        i.removeAttribute('aria-describedby');
      }
    });
    var sel = fs.querySelector('select.method');
    if (sel) {
      sel.value = 'email';
      delete sel.dataset.touched;
    }
    var legend = fs.querySelector('legend');
    if (legend) {
      legend.textContent = (texts().legend || '') + ' ' + (rows.length + 1);
    }
    box.appendChild(fs);
    wireRow(fs);
    var email = fs.querySelector('input[type=email]');
    if (email) {
      email.focus();
    }
  }

  function upload(form) {
    var box = document.getElementById('upload');
    var bar = document.getElementById('upload-progress');
    var status = document.getElementById('upload-status');
    var cancel = document.getElementById('upload-cancel');
    var send = document.getElementById('send');
    var xhr = new XMLHttpRequest();
    var done = function () {
      box.hidden = true;
      send.disabled = false;
    };
    xhr.open('POST', form.action);
    xhr.upload.addEventListener('progress', function (e) {
      if (e.lengthComputable) {
        var p = Math.round((e.loaded * 100) / e.total);
        bar.value = p;
        bar.textContent = p + '%';
        status.textContent = p + '%';
      }
    });
    xhr.addEventListener('load', function () {
      var path = '';
      try {
        path = new URL(xhr.responseURL).pathname;
      } catch (err) {
        path = '';
      }
      if (path && path !== new URL(form.action).pathname) {
        // Sent or held: the server answered with a 303 to the next page.
        window.location.assign(xhr.responseURL);
        return;
      }
      // The form again, with its errors.
      var doc = new DOMParser().parseFromString(xhr.responseText, 'text/html');
      var fresh = doc.querySelector('main');
      var main = document.querySelector('main');
      if (fresh && main) {
        main.replaceWith(fresh);
        init();
      } else {
        done();
        status.textContent = texts().failed || '';
      }
    });
    xhr.addEventListener('error', function () {
      done();
      box.hidden = false;
      status.textContent = texts().failed || '';
    });
    xhr.addEventListener('abort', function () {
      done();
      box.hidden = false;
      bar.value = 0;
      status.textContent = texts().cancelled || '';
      cancel.hidden = true;
    });
    cancel.hidden = false;
    cancel.onclick = function () {
      xhr.abort();
    };
    box.hidden = false;
    send.disabled = true;
    bar.value = 0;
    status.textContent = '';
    xhr.send(new FormData(form));
  }

  function init() {
    var form = document.getElementById('compose');
    if (!form) {
      return;
    }
    form.querySelectorAll('fieldset.recipient').forEach(wireRow);
    form.addEventListener('submit', function (ev) {
      if (ev.submitter && ev.submitter.name === 'add') {
        ev.preventDefault();
        addRow();
        return;
      }
      if (!window.FormData || !window.XMLHttpRequest || !window.DOMParser) {
        return;
      }
      ev.preventDefault();
      upload(form);
    });
    var errors = document.getElementById('fouten');
    if (errors) {
      errors.focus();
    }
  }

  init();
}());
