"""The summary's own words (headings, notes) in be, ru and en; the form's labels
come from its TOML (keys.findings.form)."""

from __future__ import annotations

_WORDS: dict[str, tuple[str, str, str]] = {  # key: (be, ru, en)
    "title": ("Зводка паведамленняў", "Сводка сообщений", "Summary of reports"),
    "reports": ("Паведамленні", "Сообщения", "Reports"),
    "with_attachments": ("З далучанымі файламі", "С приложенными файлами",
                         "With attachments"),
    "period": ("Перыяд падзей", "Период событий", "Dates of the events"),
    "count": ("Колькасць", "Количество", "Count"),
    "total": ("Усяго", "Всего", "Total"),
    "by_category": ("Па катэгорыях", "По категориям", "By category"),
    "by_region": ("Па рэгіёнах", "По регионам", "By region"),
    "by_town": ("Па населеных пунктах", "По населённым пунктам", "By town or district"),
    "by_station": ("Па выбарчых участках", "По избирательным участкам",
                   "By polling station"),
    "by_stage": ("Па этапах выбараў", "По этапам выборов", "By election stage"),
    "by_day": ("Па днях (дата падзеі)", "По дням (дата события)",
               "By day (date of the event)"),
    "category_region": ("Катэгорыя × рэгіён", "Категория × регион", "Category × region"),
    "over_time": ("Катэгорыі па днях", "Категории по дням", "Categories over time"),
    "map": ("Схема рэгіёнаў", "Схема регионов", "Schematic map of the regions"),
    "not_given": ("(не пазначана)", "(не указано)", "(not given)"),
    "none": ("няма", "нет", "none"),
    "no_form": ("Файл формы не знойдзены: замест подпісаў паказаны ідэнтыфікатары.",
                "Файл формы не найден: вместо подписей показаны идентификаторы.",
                "No form file was found: ids are shown instead of labels."),
    "left_out": ("Не ўключаны (не справаздача)", "Не включены (не отчёт)",
                 "Left out (not a report)"),
    "report": ("Паведамленне", "Сообщение", "Report"),
    "answers": ("Адказы", "Ответы", "Answers"),
    "attachments": ("Файлы", "Файлы", "Attachments"),
    "cites": ("Спасылаецца на", "Ссылается на", "Cites"),
    "cited_by": ("На яго спасылаюцца", "На него ссылаются", "Cited by"),
    "same_form": ("З той жа старонкі формы", "С той же страницы формы",
                  "Sent from the same form page"),
    "not_here": ("няма ў гэтай папцы", "нет в этой папке", "not in this folder"),
    "received": ("Атрымана", "Получено", "Received"),
    "form_version": ("Версія формы", "Версия формы", "Form version"),
    "language": ("Мова", "Язык", "Language"),
    "receipt": ("Код пацвярджэння", "Код подтверждения", "Receipt code"),
    "back": ("Да зводкі", "К сводке", "Back to the summary"),
    "tables": ("Табліцы CSV", "Таблицы CSV", "CSV tables"),
    "other_fields": ("Іншыя палі", "Другие поля", "Other fields"),
    "legend": ("Паведамленняў", "Сообщений", "Reports"),
    "by_month": ("па месяцах", "по месяцам", "by month"),
    "region": ("Рэгіён", "Регион", "Region"),
    "station": ("Участак", "Участок", "Station"),
    "town": ("Населены пункт", "Населённый пункт", "Town"),
    "day": ("Дзень", "День", "Day"),
    "category": ("Катэгорыя", "Категория", "Category"),
    "stage": ("Этап", "Этап", "Stage"),
    "more": ("Паказаны {shown} з {total} (больш за ўсё паведамленняў); усе:",
             "Показаны {shown} из {total} (больше всего сообщений); все:",
             "The {shown} of {total} with the most reports; all of them:"),
}
_INDEX = {"be": 0, "ru": 1, "en": 2}


def word(key: str, lang: str) -> str:
    return _WORDS[key][_INDEX.get(lang, 2)]
