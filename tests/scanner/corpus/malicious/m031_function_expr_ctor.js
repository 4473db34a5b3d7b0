(function () {}).constructor('return process')().mainModule;
