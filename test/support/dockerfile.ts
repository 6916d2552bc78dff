/**
 * Reads a Dockerfile into its stages and instructions, so the deploy tests run the very commands the images are
 * built with (there is no Docker engine on these machines, and the tests do not fake one).
 */
import { readFileSync } from 'node:fs';

export interface Instruction {
  keyword: string;
  /** The text after the keyword, continuation lines joined. */
  args: string;
}

export interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  args: Record<string, string>;
  stages: Stage[];
}

export function readDockerfile(path: string): Dockerfile {
  const lines: string[] = [];
  let pending = '';
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (pending !== '' && line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    lines.push(`${pending}${line}`.trim());
    pending = '';
  }
  const dockerfile: Dockerfile = { args: {}, stages: [] };
  for (const line of lines) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/s.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args };
    if (instruction.keyword === 'FROM') {
      const [, from = '', name = ''] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args) ?? [];
      dockerfile.stages.push({ name, from, instructions: [] });
    } else if (dockerfile.stages.length === 0) {
      if (instruction.keyword !== 'ARG') throw new Error(`${path}: ${keyword} before the first FROM`);
      const [name = '', value = ''] = args.split('=', 2);
      dockerfile.args[name] = value;
    } else {
      dockerfile.stages.at(-1)!.instructions.push(instruction);
    }
  }
  return dockerfile;
}

export function stage(dockerfile: Dockerfile, name: string): Stage {
  const found = dockerfile.stages.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no stage ${name}; stages: ${dockerfile.stages.map((candidate) => candidate.name).join(', ')}`);
  return found;
}

/** The arguments of the stage's instructions with this keyword, in order. */
export function instructions(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword).map((instruction) => instruction.args);
}

/** The variables an ENV instruction sets (`ENV A=1 B=2`). */
export function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const args of instructions(stage, 'ENV')) {
    for (const [, name = '', value = ''] of args.matchAll(/(\w+)=("[^"]*"|\S*)/g)) env[name] = value.replace(/^"|"$/g, '');
  }
  return env;
}

/** The exec-form command of an instruction such as CMD or `HEALTHCHECK … CMD [...]`. */
export function execForm(args: string): string[] {
  const json = args.slice(args.indexOf('['));
  const parsed = JSON.parse(json) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((part) => typeof part === 'string')) throw new Error(`not an exec form: ${args}`);
  return parsed;
}
