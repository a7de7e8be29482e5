// The pages besides the dashboard and notifications, each with the permission it needs to read.

import type { ReactElement } from "react";

import type { Permission } from "../auth/session";

export interface PageDef {
  path: string;
  element: ReactElement;
  needs?: Permission;
}

export const pages: PageDef[] = [];
