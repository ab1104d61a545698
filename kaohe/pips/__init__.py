"""Improvement plans (绩效改进计划): for now the plan and its tasks with their deadlines, which
the overdue warnings watch; the workflow (goals, check-ins, outcome) comes with its own issue."""
