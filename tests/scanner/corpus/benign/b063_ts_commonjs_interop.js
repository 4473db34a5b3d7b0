"use strict";
var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) { if (k2 === undefined) k2 = k; o[k2] = m[k]; }));
Object.defineProperty(exports, "__esModule", { value: true });
exports.helper = void 0;
const path_1 = __importDefault(require("path"));
function __importDefault(mod) { return (mod && mod.__esModule) ? mod : { "default": mod }; }
exports.helper = (p) => path_1.default.basename(p);
